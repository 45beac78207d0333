//! Real network partitions: each node in its own network namespace on a
//! private bridge this test creates (10.213.<tag>.0/24, never routed
//! anywhere), and iptables rules inside a node's namespace to cut it off
//! from its peers while the test host (the bridge, .254) still reaches it.
//!
//! Needs root and iproute2/iptables; [`Netns::available`] tells.

use std::process::Command;

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn must(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("command runs");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Why [`Netns::available`] said no, for the prerequisite check.
pub const UNAVAILABLE: &str =
    "`ip netns add` or `iptables --version` failed: namespaces need root, iproute2 and iptables";

/// Namespaces `cg<tag>n1..=n<n>` on bridge `cgbr<tag>`; removed on drop.
pub struct Netns {
    tag: u8,
    n: usize,
}

impl Netns {
    /// True if this host lets the test make namespaces (root, iproute2, iptables).
    /// Whether this host can make namespaces: [`UNAVAILABLE`] says why not.
    pub fn available() -> bool {
        // Unique per call: tests of one process may probe at once.
        static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe = format!("cgprobe{}-{n}", std::process::id());
        let ok = run(&["ip", "netns", "add", &probe]);
        if ok {
            run(&["ip", "netns", "del", &probe]);
        }
        ok && run(&["iptables", "--version"])
    }

    /// Builds the bridge and `n` namespaces, each with address `ip(i)`.
    pub fn create(tag: u8, n: usize) -> Netns {
        let net = Netns { tag, n };
        net.teardown();
        let bridge = net.bridge();
        must(&["ip", "link", "add", &bridge, "type", "bridge"]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("10.213.{tag}.254/24"),
            "dev",
            &bridge,
        ]);
        must(&["ip", "link", "set", &bridge, "up"]);
        // Hosts that run Docker drop forwarded traffic by default, and with
        // br_netfilter that includes traffic across our bridge: let ours through.
        must(&[
            "iptables", "-I", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT",
        ]);
        for i in 0..n {
            let ns = net.name(i);
            let veth = format!("cg{tag}v{i}");
            must(&["ip", "netns", "add", &ns]);
            must(&[
                "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            must(&["ip", "link", "set", &veth, "master", &bridge, "up"]);
            must(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{}/24", net.ip(i)),
                "dev",
                "eth0",
            ]);
            must(&[
                "ip", "netns", "exec", &ns, "ip", "link", "set", "eth0", "up",
            ]);
            must(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        }
        net
    }

    pub fn name(&self, i: usize) -> String {
        format!("cg{}n{}", self.tag, i + 1)
    }

    fn bridge(&self) -> String {
        format!("cgbr{}", self.tag)
    }

    /// Node `i`'s address (0-based `i`).
    pub fn ip(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.tag, i + 1)
    }

    /// Cuts node `i` off from every other node (both directions); the test
    /// host can still reach it, to see what the minority side answers.
    pub fn isolate(&self, i: usize) {
        let ns = self.name(i);
        for j in (0..self.n).filter(|j| *j != i) {
            let peer = self.ip(j);
            must(&[
                "ip", "netns", "exec", &ns, "iptables", "-A", "INPUT", "-s", &peer, "-j", "DROP",
            ]);
            must(&[
                "ip", "netns", "exec", &ns, "iptables", "-A", "OUTPUT", "-d", &peer, "-j", "DROP",
            ]);
        }
    }

    /// Undoes [`isolate`](Self::isolate).
    pub fn heal(&self, i: usize) {
        must(&["ip", "netns", "exec", &self.name(i), "iptables", "-F"]);
    }

    fn teardown(&self) {
        for i in 0..self.n {
            run(&["ip", "netns", "del", &self.name(i)]);
        }
        let bridge = self.bridge();
        while run(&[
            "iptables", "-D", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT",
        ]) {}
        run(&["ip", "link", "del", &bridge]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.teardown();
    }
}
