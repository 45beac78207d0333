//! The cluster's status.

use callgrid_proto::v1;
use serde_json::{Value, json};

use crate::output::Render;

impl Render for v1::StatusResponse {
    fn text(&self) -> String {
        let leader = self
            .leader_id
            .map_or_else(|| "none".to_owned(), |l| l.to_string());
        let members: Vec<String> = self
            .membership
            .iter()
            .map(|m| {
                let role = if m.voter { "voter" } else { "learner" };
                format!("{}@{} ({role}, {} shards)", m.node_id, m.addr, m.shards)
            })
            .collect();
        format!(
            "node {} ({}), leader {leader}, term {}, commit {}, applied {}, shard epoch {}; members: {}",
            self.node_id,
            self.state,
            self.term,
            self.commit_index,
            self.applied_index,
            self.shard_epoch,
            members.join(", ")
        )
    }

    fn json(&self) -> Value {
        json!({
            "node_id": self.node_id,
            "leader_id": self.leader_id,
            "term": self.term,
            "commit_index": self.commit_index,
            "applied_index": self.applied_index,
            "membership": self.membership.iter().map(|m| json!({
                "node_id": m.node_id,
                "addr": m.addr,
                "voter": m.voter,
                "shards": m.shards,
            })).collect::<Vec<_>>(),
            "shard_epoch": self.shard_epoch,
            "state": self.state,
        })
    }
}
