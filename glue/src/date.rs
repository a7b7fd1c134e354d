//! A deterministic `Date` response header from the host's clock, replacing hyper's automatic
//! one (which reads `SystemTime` and so changes every trace hash from process to process).

use http::header::{HeaderValue, DATE};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;
use testbed_model::Runtime;

/// The host's wall-clock time: the model runtime's wall clock (in the simulator the host's
/// skewed wall clock, which starts at `testbed_model::runtime::WALL_EPOCH_SECS`; on real
/// backends the system clock).
pub fn wall_time<R: Runtime>(rt: &R) -> SystemTime {
    rt.wall_clock()
}

/// `Date` header value (IMF-fixdate, RFC 9110 §5.6.7) for the host's [`wall_time`].
pub fn http_date<R: Runtime>(rt: &R) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(wall_time(rt)))
        .expect("an IMF-fixdate is a valid header value")
}

/// Adds `Date` (from [`http_date`]) to responses that lack one.
#[derive(Clone, Debug)]
pub struct DateLayer<R> {
    rt: R,
}

impl<R: Runtime> DateLayer<R> {
    /// Dates responses by `rt`'s clock.
    pub fn new(rt: R) -> DateLayer<R> {
        DateLayer { rt }
    }
}

impl<S, R: Runtime> tower_layer::Layer<S> for DateLayer<R> {
    type Service = DateHeader<S, R>;
    fn layer(&self, inner: S) -> DateHeader<S, R> {
        DateHeader {
            inner,
            rt: self.rt.clone(),
        }
    }
}

/// The service [`DateLayer`] builds.
#[derive(Clone, Debug)]
pub struct DateHeader<S, R> {
    inner: S,
    rt: R,
}

impl<S, R, Req, B> tower_service::Service<Req> for DateHeader<S, R>
where
    S: tower_service::Service<Req, Response = http::Response<B>>,
    R: Runtime,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = DateFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        DateFuture {
            inner: self.inner.call(req),
            rt: self.rt.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`DateHeader`].
    pub struct DateFuture<F, R> {
        #[pin]
        inner: F,
        rt: R,
    }
}

impl<F, R, B, E> Future for DateFuture<F, R>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    R: Runtime,
{
    type Output = Result<http::Response<B>, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Ready(Ok(mut res)) => {
                if !res.headers().contains_key(DATE) {
                    res.headers_mut().insert(DATE, http_date(&*this.rt));
                }
                Poll::Ready(Ok(res))
            }
            other => other,
        }
    }
}
