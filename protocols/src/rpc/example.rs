//! The example service used by tests and scenarios: `add`, `sub`, and a key-value store.

use super::endpoint::{Method, RpcServer, ServerError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Two numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// Left.
    pub a: i64,
    /// Right.
    pub b: i64,
}

/// `a + b` (checked: overflow is an error).
pub struct Add;
impl Method for Add {
    const ID: u32 = 1;
    const NAME: &'static str = "add";
    type Req = Pair;
    type Resp = i64;
}

/// `a - b` (checked).
pub struct Sub;
impl Method for Sub {
    const ID: u32 = 2;
    const NAME: &'static str = "sub";
    type Req = Pair;
    type Resp = i64;
}

/// Reads a key.
pub struct KvGet;
impl Method for KvGet {
    const ID: u32 = 3;
    const NAME: &'static str = "kv.get";
    type Req = String;
    type Resp = Option<String>;
}

/// Writes a key; returns the previous value.
pub struct KvPut;
impl Method for KvPut {
    const ID: u32 = 4;
    const NAME: &'static str = "kv.put";
    type Req = (String, String);
    type Resp = Option<String>;
}

fn overflow() -> ServerError {
    ServerError {
        code: super::ErrorCode::BadRequest,
        message: "integer overflow".into(),
    }
}

/// The map behind `store` (a handler never panics holding the lock; recover it if one did).
fn lock(s: &SharedStore) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// A key-value store that servers on several worker threads share.
pub type SharedStore = Arc<Mutex<BTreeMap<String, String>>>;

/// The example server with its own, fresh store.
pub fn server() -> RpcServer {
    server_with(SharedStore::default())
}

/// The example server on `store` (give every worker's server the same store).
pub fn server_with(store: SharedStore) -> RpcServer {
    let (s1, s2) = (store.clone(), store);

    RpcServer::new()
        .register::<Add, _, _>(|p: Pair| async move { p.a.checked_add(p.b).ok_or_else(overflow) })
        .register::<Sub, _, _>(|p: Pair| async move { p.a.checked_sub(p.b).ok_or_else(overflow) })
        .register::<KvGet, _, _>(move |k: String| {
            let v = lock(&s1).get(&k).cloned();
            async move { Ok(v) }
        })
        .register::<KvPut, _, _>(move |(k, v): (String, String)| {
            let old = lock(&s2).insert(k, v);
            async move { Ok(old) }
        })
}
