//! Ready-made models: a register with compare-and-set, a key-value store (partitioned by key,
//! or whole-store), and a FIFO queue.

mod kv;
mod queue;
mod register;

pub use kv::{KvInput, KvModel, KvOp, KvOutput, KvStoreModel};
pub use queue::{QueueInput, QueueModel, QueueOutput};
pub use register::{RegisterInput, RegisterModel, RegisterOutput};
