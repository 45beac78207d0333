//! Compiles `proto/callgrid/v1/*.proto` (and the node-to-node
//! `proto/callgrid/internal/v1/peer.proto`) with protox (pure Rust, no system
//! protoc) and generates the prost messages and tonic clients and servers.

use std::{env, error::Error, path::PathBuf};

use prost::Message;

const FILES: &[&str] = &[
    "callgrid/v1/types.proto",
    "callgrid/v1/directory.proto",
    "callgrid/v1/calls.proto",
    "callgrid/v1/pickup.proto",
    "callgrid/v1/park.proto",
    "callgrid/v1/presence.proto",
    "callgrid/v1/cluster.proto",
    "callgrid/v1/sip.proto",
    "callgrid/internal/v1/peer.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    for file in FILES {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }

    let files: Vec<PathBuf> = FILES.iter().map(|f| proto_root.join(f)).collect();
    let fds = protox::compile(&files, [&proto_root])?;

    // With a ready descriptor set prost-build runs no protoc, and so writes
    // no descriptor file either: write the one tonic-reflection serves here.
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("callgrid_descriptor.bin");
    std::fs::write(&descriptor_path, fds.encode_to_vec())?;
    // Reflection lists the public API only: the node-to-node service is
    // not something a client should discover.
    let mut public = fds.clone();
    public.file.retain(|f| f.name().starts_with("callgrid/v1/"));
    std::fs::write(
        out_dir.join("callgrid_public_descriptor.bin"),
        public.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .compile_fds(fds)?;
    Ok(())
}
