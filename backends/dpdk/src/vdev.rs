//! Virtual devices made at run time: any driver by name and arguments ([`Vdev`], e.g.
//! `net_null`, `net_af_packet,iface=...`, `net_af_xdp,iface=...`) and a pair of ports joined
//! by two rte_rings ([`RingPair`]: what one sends, the other receives). Removed on drop.
#![allow(unsafe_code)]

use crate::port::lookup;
use crate::{sys, Eal, Mempool, PortId, VdevError};
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

const NAME_MAX: usize = 48;

fn cname(s: &str) -> Result<CString, VdevError> {
    if s.is_empty() || s.len() > NAME_MAX {
        return Err(VdevError::BadName(s.to_owned()));
    }
    CString::new(s).map_err(|_| VdevError::BadName(s.to_owned()))
}

/// A virtual device made with `rte_vdev_init`, removed (`rte_vdev_uninit`) on drop. Its port
/// is borrowed from it, so no [`crate::Port`] outlives it.
#[derive(Debug)]
pub struct Vdev<'e> {
    name: CString,
    port: u16,
    _eal: PhantomData<&'e Eal>,
}

impl<'e> Vdev<'e> {
    /// Creates device `name` (its prefix picks the driver: `net_null_t1`, `net_af_packet3`)
    /// with driver arguments `args` (e.g. `iface=veth0`; may be empty).
    pub fn new(_eal: &'e Eal, name: &str, args: &str) -> Result<Vdev<'e>, VdevError> {
        let n = cname(name)?;
        let a = CString::new(args).map_err(|_| VdevError::BadName(args.to_owned()))?;
        // SAFETY: both are valid C strings that DPDK copies; the EAL is initialized.
        let rc = unsafe { sys::rte_vdev_init(n.as_ptr(), a.as_ptr()) };
        if rc != 0 {
            return Err(VdevError::Call {
                op: "rte_vdev_init",
                name: name.to_owned(),
                errno: sys::errno(if rc < 0 { rc } else { -rc }),
            });
        }
        let mut v = Vdev {
            name: n,
            port: u16::MAX,
            _eal: PhantomData,
        };
        // Drop removes the device if the port is missing.
        v.port = lookup(name)?;
        Ok(v)
    }

    /// The device's port.
    pub fn port_id(&self) -> PortId<'_> {
        PortId {
            id: self.port,
            pinned: None,
            _d: PhantomData,
        }
    }
}

impl Drop for Vdev<'_> {
    fn drop(&mut self) {
        // SAFETY: every Port of this device borrowed it and is closed; uninit removes the
        // device (a no-op for its already released port).
        unsafe { sys::rte_vdev_uninit(self.name.as_ptr()) };
    }
}

/// Two ports joined back to back by two rte_rings: frames sent on one arrive on the other
/// (`rte_eth_from_rings`). Both ports receive into, and send only mbufs of, the pool the pair
/// was made with, which outlives the pair — so no frame parked in a ring can outlive its
/// memory. Dropping the pair frees what is left in the rings and removes both ports.
#[derive(Debug)]
pub struct RingPair<'p> {
    names: [CString; 2],
    ports: [u16; 2],
    rings: [NonNull<sys::rte_ring>; 2],
    pool: &'p Mempool<'p>,
}

// SAFETY: the rings are multi-producer/multi-consumer and only touched in Drop (&mut).
unsafe impl Send for RingPair<'_> {}
// SAFETY: &self methods read plain ids.
unsafe impl Sync for RingPair<'_> {}

impl<'p> RingPair<'p> {
    /// Makes rings `{name}_ab`/`{name}_ba` of `size` slots (a power of two, 2..=65536) and
    /// ports `net_ring_{name}_a`/`net_ring_{name}_b` (`name` at most 24 bytes) that receive
    /// into `pool`.
    pub fn new(
        _eal: &'p Eal,
        name: &str,
        size: u32,
        pool: &'p Mempool<'p>,
    ) -> Result<RingPair<'p>, VdevError> {
        if name.len() > 24 || !size.is_power_of_two() || !(2..=65536).contains(&size) {
            return Err(VdevError::BadName(format!(
                "{name} (at most 24 bytes) / ring size {size} (a power of two, 2..=65536)"
            )));
        }
        let mut rings = Vec::with_capacity(2);
        for dir in ["ab", "ba"] {
            let rn = cname(&format!("{name}_{dir}"))?;
            // SAFETY: a valid C name that DPDK copies; size checked above; flags 0 make the
            // ring multi-producer/multi-consumer.
            let r =
                unsafe { sys::rte_ring_create(rn.as_ptr(), size, sys::rte_socket_id() as i32, 0) };
            match NonNull::new(r) {
                Some(r) => rings.push(r),
                None => {
                    let errno = sys::last_errno();
                    for r in rings {
                        // SAFETY: a ring made just above, used by nobody.
                        unsafe { sys::rte_ring_free(r.as_ptr()) };
                    }
                    return Err(VdevError::Call {
                        op: "rte_ring_create",
                        name: format!("{name}_{dir}"),
                        errno,
                    });
                }
            }
        }
        let rings = [rings[0], rings[1]];
        let names = [
            cname(&format!("net_ring_{name}_a"))?,
            cname(&format!("net_ring_{name}_b"))?,
        ];
        let mut ports = [u16::MAX; 2];
        for (i, (n, (rx, tx))) in names
            .iter()
            .zip([(rings[1], rings[0]), (rings[0], rings[1])])
            .enumerate()
        {
            let mut rxq = [rx.as_ptr()];
            let mut txq = [tx.as_ptr()];
            // SAFETY: the ring arrays hold one valid ring each and are only read during the
            // call; the name is a valid C string. A port receives on one ring and sends on
            // the other, so a's sends are b's receives and back.
            let rc = unsafe {
                sys::rte_eth_from_rings(
                    n.as_ptr(),
                    rxq.as_mut_ptr(),
                    1,
                    txq.as_mut_ptr(),
                    1,
                    sys::rte_socket_id(),
                )
            };
            if rc < 0 {
                let errno = sys::last_errno();
                // SAFETY: undo what exists: the first port (if made) and both rings, empty.
                unsafe {
                    if i == 1 {
                        sys::rte_vdev_uninit(names[0].as_ptr());
                    }
                    for r in rings {
                        sys::rte_ring_free(r.as_ptr());
                    }
                }
                return Err(VdevError::Call {
                    op: "rte_eth_from_rings",
                    name: n.to_string_lossy().into_owned(),
                    errno,
                });
            }
            ports[i] = rc as u16;
        }
        Ok(RingPair {
            names,
            ports,
            rings,
            pool,
        })
    }

    /// The two ports: what `[0]` sends, `[1]` receives, and back.
    pub fn port_ids(&self) -> [PortId<'_>; 2] {
        let pinned = Some(self.pool.as_ptr().cast_const());
        self.ports.map(|id| PortId {
            id,
            pinned,
            _d: PhantomData,
        })
    }
}

impl Drop for RingPair<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            // SAFETY: the ports' Port handles borrowed this pair and are closed; uninit
            // removes the devices.
            unsafe { sys::rte_vdev_uninit(n.as_ptr()) };
        }
        for r in self.rings {
            // SAFETY: no port uses the ring any more; every mbuf in it is of self.pool (the
            // ports send nothing else), which is still alive, so freeing them is sound.
            unsafe {
                let mut obj: *mut std::ffi::c_void = std::ptr::null_mut();
                while sys::tb_ring_dequeue(r.as_ptr(), &mut obj) == 0 {
                    sys::tb_pktmbuf_free(obj.cast());
                }
                sys::rte_ring_free(r.as_ptr());
            }
        }
    }
}
