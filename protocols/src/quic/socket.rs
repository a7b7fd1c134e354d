//! quinn's `AsyncUdpSocket` over a model datagram socket (one datagram per call; no GSO or
//! GRO, no ECN).

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use testbed_model::DatagramSocket;

/// A model datagram socket as quinn's socket.
pub struct ModelUdp<D> {
    sock: D,
}

impl<D> fmt::Debug for ModelUdp<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ModelUdp")
    }
}

impl<D> ModelUdp<D>
where
    D: DatagramSocket + Send + Sync + 'static,
{
    /// Wraps `sock`.
    pub fn new(sock: D) -> Arc<ModelUdp<D>> {
        Arc::new(ModelUdp { sock })
    }
}

/// Sends never wait on a model socket (a full path drops, as UDP does).
#[derive(Debug)]
struct AlwaysWritable;

impl quinn::UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl<D> quinn::AsyncUdpSocket for ModelUdp<D>
where
    D: DatagramSocket + Send + Sync + 'static,
{
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn quinn::UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, t: &quinn::udp::Transmit<'_>) -> io::Result<()> {
        let mut cx = Context::from_waker(Waker::noop());
        let seg = t.segment_size.unwrap_or(t.contents.len()).max(1);
        for chunk in t.contents.chunks(seg) {
            match self.sock.poll_send_to(&mut cx, chunk, t.destination) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Err(io::ErrorKind::WouldBlock.into()),
            }
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [quinn::udp::RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        let (n, from) = std::task::ready!(self.sock.poll_recv_from(cx, buf))?;
        *m = quinn::udp::RecvMeta {
            addr: from,
            len: n,
            stride: n,
            ecn: None,
            dst_ip: None,
        };
        Poll::Ready(Ok(1))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.sock.local_addr())
    }

    fn may_fragment(&self) -> bool {
        false
    }
}
