//! A tonic [`Channel`](::tonic::transport::Channel) over model streams.
//!
//! tonic's own `Endpoint::connect` dials tokio sockets and spawns on tokio, and
//! `Endpoint::timeout` / `connect_timeout` sleep on tokio's timer: under the simulator those
//! panic with "there is no reactor running". [`channel`] sets the executor to [`Exec`] and
//! dials through a [`Connector`]; bound each call with `testbed_model::timeout` instead of
//! `Endpoint::timeout`. `Request::set_timeout` also sleeps on tokio (the channel's
//! `grpc-timeout` layer): under the simulator do not set it on calls through a channel.

use crate::{Connector, Exec};
use ::tonic::transport::{Channel, Endpoint};
use testbed_model::{Net, Runtime};

/// A lazily connecting channel to `endpoint` through `connector`, spawning on `rt`. The first
/// call connects; a broken connection is re-dialled on the next call.
///
/// Do not set `timeout`, `connect_timeout`, `tcp_keepalive`, `rate_limit` or `tls_config`
/// on `endpoint` under the simulator: they use tokio's timer or sockets. Use
/// [`Connector::deadline`] and `testbed_model::timeout` instead.
pub fn channel<N, R>(endpoint: Endpoint, rt: R, connector: Connector<N, R>) -> Channel
where
    N: Net + Send + Sync,
    N::Stream: Send,
    R: Runtime + Send + Sync,
{
    endpoint
        .executor(Exec::new(rt))
        .connect_with_connector_lazy(connector)
}
