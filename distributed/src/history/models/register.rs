//! A single register holding an optional integer, with read, write and compare-and-set
//! (the model of Jepsen's etcd register histories).

use crate::history::model::{Model, Step};

/// A register request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Overwrite the value.
    Write(i64),
    /// Set to `new` if the value equals `expect`.
    Cas {
        /// The expected current value.
        expect: i64,
        /// The value to store on a match.
        new: i64,
    },
}

/// A register response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    /// What a read saw (`None`: never written).
    Read(Option<i64>),
    /// A write was acknowledged.
    Written,
    /// Whether a compare-and-set matched.
    Cas(bool),
}

/// The register model; the state is the current value (`None` before the first write).
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterModel {
    /// The initial value.
    pub initial: Option<i64>,
}

impl Model for RegisterModel {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;
    type Partition = ();

    fn init(&self) -> Option<i64> {
        self.initial
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Step<Option<i64>> {
        match (input, output) {
            (RegisterInput::Read, None) => Step::Same,
            (RegisterInput::Read, Some(RegisterOutput::Read(v))) if v == state => Step::Same,
            (RegisterInput::Write(v), None | Some(RegisterOutput::Written)) => {
                if *state == Some(*v) {
                    Step::Same
                } else {
                    Step::To(Some(*v))
                }
            }
            (RegisterInput::Cas { expect, new }, out) => {
                let matched = *state == Some(*expect);
                match out {
                    Some(RegisterOutput::Cas(ok)) if *ok != matched => Step::Illegal,
                    None | Some(RegisterOutput::Cas(_)) => {
                        if matched && *expect != *new {
                            Step::To(Some(*new))
                        } else {
                            Step::Same
                        }
                    }
                    Some(_) => Step::Illegal,
                }
            }
            _ => Step::Illegal,
        }
    }

    fn partition(&self, _: &RegisterInput) {}

    fn describe_op(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> String {
        let out = match output {
            None => "?".to_string(),
            Some(RegisterOutput::Read(None)) => "nil".to_string(),
            Some(RegisterOutput::Read(Some(v))) => v.to_string(),
            Some(RegisterOutput::Written) => "ok".to_string(),
            Some(RegisterOutput::Cas(true)) => "ok".to_string(),
            Some(RegisterOutput::Cas(false)) => "fail".to_string(),
        };
        match input {
            RegisterInput::Read => format!("read() -> {out}"),
            RegisterInput::Write(v) => format!("write({v}) -> {out}"),
            RegisterInput::Cas { expect, new } => format!("cas({expect}, {new}) -> {out}"),
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        match state {
            None => "nil".to_string(),
            Some(v) => v.to_string(),
        }
    }
}
