//! The stack's resolve layer fed by service discovery: a [`ServiceView`] that
//! [`crate::discovery::follow`] keeps current, seen as a [`Resolve`]. Discovery names
//! instances with strings; the balancers number them, so each instance id gets a
//! [`NodeId`] the first time it is seen (deterministic: in the order views list them).

use super::resolve::{Instance, Resolve};
use crate::balance::NodeId;
use crate::discovery::ServiceView;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Most instance ids remembered; beyond it, ids no longer listed are forgotten (an instance
/// that comes back after that gets a new [`NodeId`], so fresh breaker and balancer state).
pub const DISCOVERED_IDS_MAX: usize = 4096;

/// The metadata key read as the balancing weight (an integer; default 1).
pub const WEIGHT_KEY: &str = "weight";

/// A [`Resolve`] over a shared [`ServiceView`].
#[derive(Debug)]
pub struct DiscoveredResolve {
    view: Rc<RefCell<ServiceView>>,
    ids: RefCell<Ids>,
}

#[derive(Debug, Default)]
struct Ids {
    by_name: BTreeMap<String, NodeId>,
    next: NodeId,
}

impl DiscoveredResolve {
    /// Resolves from `view` (the one `follow` updates).
    pub fn new(view: Rc<RefCell<ServiceView>>) -> Self {
        DiscoveredResolve {
            view,
            ids: RefCell::default(),
        }
    }

    /// The view.
    pub fn view(&self) -> &Rc<RefCell<ServiceView>> {
        &self.view
    }

    /// The [`NodeId`] given to instance `id`, if it has one.
    pub fn node_id(&self, id: &str) -> Option<NodeId> {
        self.ids.borrow().by_name.get(id).copied()
    }
}

impl Resolve for DiscoveredResolve {
    fn revision(&self) -> u64 {
        self.view.borrow().revision().0
    }

    fn instances(&self) -> Vec<Instance> {
        let view = self.view.borrow();
        let mut ids = self.ids.borrow_mut();
        if ids.by_name.len() >= DISCOVERED_IDS_MAX {
            ids.by_name.retain(|name, _| view.contains(name));
        }
        let mut out: Vec<Instance> = view
            .instances()
            .map(|i| {
                let ids = &mut *ids;
                let id = *ids.by_name.entry(i.id.clone()).or_insert_with(|| {
                    let n = ids.next;
                    ids.next = ids.next.wrapping_add(1);
                    n
                });
                let weight = i
                    .metadata
                    .get(WEIGHT_KEY)
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(1);
                Instance {
                    id,
                    addr: i.addr,
                    weight,
                }
            })
            .collect();
        out.sort_by_key(|i| i.id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{Change, Instance as Registered, Resolved, Revision, WatchEvent};

    fn reg(id: &str, port: u16) -> Registered {
        Registered::new("orders", id, ([10, 0, 0, 1], port).into())
    }

    #[test]
    fn follows_the_view_with_stable_node_ids_and_weights() {
        let view = Rc::new(RefCell::new(ServiceView::default()));
        let mut heavy = reg("orders-b", 2);
        heavy.metadata.insert(WEIGHT_KEY.into(), "3".into());
        view.borrow_mut().reset(Resolved {
            instances: vec![reg("orders-a", 1), heavy],
            revision: Revision(5),
        });
        let r = DiscoveredResolve::new(view.clone());
        assert_eq!(r.revision(), 5);
        let first = r.instances();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].addr.port(), 1);
        assert_eq!((first[0].weight, first[1].weight), (1, 3));
        let a = r.node_id("orders-a").unwrap();

        // A delete then a new instance: the survivors keep their ids, the newcomer gets a
        // fresh one, and the revision moves so the stack re-syncs.
        view.borrow_mut().apply(&WatchEvent {
            revision: Revision(6),
            change: Change::Delete {
                service: "orders".into(),
                id: "orders-b".into(),
            },
        });
        view.borrow_mut().apply(&WatchEvent {
            revision: Revision(7),
            change: Change::Put(reg("orders-c", 3)),
        });
        assert_eq!(r.revision(), 7);
        let now = r.instances();
        assert_eq!(now.len(), 2);
        assert_eq!(r.node_id("orders-a"), Some(a));
        let c = r.node_id("orders-c").unwrap();
        assert!(c != a && Some(c) != r.node_id("orders-b"));
        assert_eq!(
            now.iter().map(|i| i.addr.port()).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }

    #[test]
    fn forgotten_ids_are_bounded() {
        let view = Rc::new(RefCell::new(ServiceView::default()));
        let r = DiscoveredResolve::new(view.clone());
        for n in 0..(DISCOVERED_IDS_MAX as u64 + 10) {
            view.borrow_mut().reset(Resolved {
                instances: vec![reg(&format!("i{n}"), 1)],
                revision: Revision(n + 1),
            });
            assert_eq!(r.instances().len(), 1);
        }
        assert!(r.ids.borrow().by_name.len() <= DISCOVERED_IDS_MAX);
    }
}
