//! A string key-value store with get, put and append. [`KvModel`] partitions by key (the
//! state is one value); [`KvStoreModel`] checks the whole store at once (the state is the map).

use std::collections::BTreeMap;

use crate::history::model::{Model, Step};

/// What a key-value request does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Read the value (`""` when absent).
    Get,
    /// Overwrite the value.
    Put(String),
    /// Append to the value.
    Append(String),
}

/// A key-value request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KvInput {
    /// The key.
    pub key: String,
    /// The operation on it.
    pub op: KvOp,
}

/// A key-value response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// What a get returned (`""` for an absent key).
    Value(String),
    /// A put or append was acknowledged.
    Done,
}

fn apply(current: &str, input: &KvInput, output: Option<&KvOutput>) -> Option<Option<String>> {
    // None: illegal; Some(None): unchanged; Some(Some(v)): new value.
    match (&input.op, output) {
        (KvOp::Get, None) => Some(None),
        (KvOp::Get, Some(KvOutput::Value(v))) if v == current => Some(None),
        (KvOp::Put(v), None | Some(KvOutput::Done)) => {
            Some(if v == current { None } else { Some(v.clone()) })
        }
        (KvOp::Append(v), None | Some(KvOutput::Done)) => Some(if v.is_empty() {
            None
        } else {
            let mut s = String::with_capacity(current.len() + v.len());
            s.push_str(current);
            s.push_str(v);
            Some(s)
        }),
        _ => None,
    }
}

fn describe(input: &KvInput, output: Option<&KvOutput>) -> String {
    let k = &input.key;
    match (&input.op, output) {
        (KvOp::Get, Some(KvOutput::Value(v))) => format!("get({k:?}) -> {v:?}"),
        (KvOp::Get, _) => format!("get({k:?}) -> ?"),
        (KvOp::Put(v), o) => format!("put({k:?}, {v:?}){}", if o.is_none() { " ?" } else { "" }),
        (KvOp::Append(v), o) => {
            format!(
                "append({k:?}, {v:?}){}",
                if o.is_none() { " ?" } else { "" }
            )
        }
    }
}

/// Key-value store partitioned by key: each key is checked alone; the state is its value.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;
    type Partition = String;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: Option<&KvOutput>) -> Step<String> {
        match apply(state, input, output) {
            None => Step::Illegal,
            Some(None) => Step::Same,
            Some(Some(v)) => Step::To(v),
        }
    }

    fn partition(&self, input: &KvInput) -> String {
        input.key.clone()
    }

    fn describe_op(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        describe(input, output)
    }

    fn describe_state(&self, state: &String) -> String {
        format!("{state:?}")
    }
}

/// Key-value store checked as one object (no partitioning); the state is the whole map.
/// Much slower than [`KvModel`]; here to compare with checkers that do not partition.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvStoreModel;

impl Model for KvStoreModel {
    type State = BTreeMap<String, String>;
    type Input = KvInput;
    type Output = KvOutput;
    type Partition = ();

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Step<Self::State> {
        let current = state.get(&input.key).map_or("", String::as_str);
        match apply(current, input, output) {
            None => Step::Illegal,
            Some(None) => Step::Same,
            Some(Some(v)) => {
                let mut next = state.clone();
                next.insert(input.key.clone(), v);
                Step::To(next)
            }
        }
    }

    fn partition(&self, _: &KvInput) {}

    fn describe_op(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        describe(input, output)
    }
}
