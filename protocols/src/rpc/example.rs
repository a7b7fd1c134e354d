//! The example service used by tests and scenarios: `add`, `sub`, and a key-value store.

use super::endpoint::{Method, RpcServer, ServerError};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

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

/// The example server with its own, fresh store.
pub fn server() -> RpcServer {
    let store: Rc<RefCell<BTreeMap<String, String>>> = Rc::default();
    let (s1, s2) = (store.clone(), store);
    RpcServer::new()
        .register::<Add, _, _>(|p: Pair| async move { p.a.checked_add(p.b).ok_or_else(overflow) })
        .register::<Sub, _, _>(|p: Pair| async move { p.a.checked_sub(p.b).ok_or_else(overflow) })
        .register::<KvGet, _, _>(move |k: String| {
            let v = s1.borrow().get(&k).cloned();
            async move { Ok(v) }
        })
        .register::<KvPut, _, _>(move |(k, v): (String, String)| {
            let old = s2.borrow_mut().insert(k, v);
            async move { Ok(old) }
        })
}
