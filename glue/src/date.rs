//! A deterministic `Date` response header from the host's clock, replacing hyper's automatic
//! one (which reads `SystemTime` and so changes every trace hash from process to process).

use http::header::{HeaderValue, DATE};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testbed_model::Runtime;

/// The wall-clock time model time zero stands for: 2024-01-01T00:00:00Z (the date the
/// simulator's wall clock is planned to start at, so switching to it changes no Date header).
pub const WALL_CLOCK_EPOCH: Duration = Duration::from_secs(1_704_067_200);

/// The host's wall-clock time.
///
/// Seam: the model `Runtime` has no wall-clock read yet, so this is [`WALL_CLOCK_EPOCH`] plus
/// the host's monotonic `now()` (which in the simulator includes its skew). When the runtime
/// gains a wall clock (`Runtime::wall_clock`), this body becomes `rt.wall_clock()`: it is the
/// one place to switch. On real backends it is
/// therefore not the calendar date; pass `ServeConfig::date_header = false` there if that
/// matters and let a proxy set `Date`.
pub fn wall_time<R: Runtime>(rt: &R) -> SystemTime {
    UNIX_EPOCH + WALL_CLOCK_EPOCH + rt.now().since_epoch()
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
