//! `callgrid-bench`: the load driver for a callgrid cluster, and the
//! report it writes.
//!
//! It drives the public gRPC API the way load testers do — races for one
//! ringing call, park–retrieve churn, BLF lamp fan-out, a carrier's mixed
//! day — and measures every scenario against two baselines taken in the
//! same run, on the same target, at the same concurrency: a bare gRPC round
//! trip and the cheapest committed Raft write. Absolute times on shared
//! machines drift; the ratios are what compare across runs.
//!
//! It must never send traffic anywhere but the targets it is given (or the
//! node it spawned on 127.0.0.1), and never touch tenants other than its
//! own `bench-*` tenants.

//!
//! # Layout
//! One run, in order: [`cli`] reads the command line; [`target`] finds or
//! spawns the nodes (and [`peer`] the etcd members it is compared with);
//! [`setup`] writes the directory; [`baseline`] measures the two
//! baselines; [`scenario`] runs one scenario through [`runner`], whose
//! workers record into a [`recorder`] ([`stats`] histograms, [`outcome`]
//! names); [`report`] prints and writes the result, [`plot`] draws it.
//! Beside the run: [`lag`] watches the driver's own pauses, [`cpu`] reads
//! the CPU each side spent, [`install`] fetches SIPp and etcd, [`layout`]
//! names the files of a bench directory.

pub mod baseline;
pub mod cli;
pub mod cpu;
pub mod install;
pub mod lag;
pub mod layout;
pub mod outcome;
pub mod peer;
pub mod plot;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod setup;
pub mod stats;
pub mod target;
