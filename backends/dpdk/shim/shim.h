/* The DPDK headers the Rust bindings are generated from, plus tb_* wrappers (shim.c) around
 * the static-inline functions and per-lcore variables bindgen cannot bind. */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>

/* rte_errno of the calling thread. */
int tb_errno(void);
/* rte_lcore_id() of the calling thread (LCORE_ID_ANY outside EAL threads). */
unsigned tb_lcore_id(void);
uint16_t tb_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t tb_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *tb_pktmbuf_alloc(struct rte_mempool *mp);
int tb_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n);
void tb_pktmbuf_free(struct rte_mbuf *m);
/* Appends len bytes to the last segment; NULL when the tailroom is too small. */
char *tb_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
/* The first segment's data (rte_pktmbuf_mtod) and its length (data_len). */
uint8_t *tb_mbuf_data(struct rte_mbuf *m, uint16_t *len);
/* Total packet length over all segments, and the number of segments. */
uint32_t tb_mbuf_pkt_len(const struct rte_mbuf *m);
uint16_t tb_mbuf_nb_segs(const struct rte_mbuf *m);
uint16_t tb_mbuf_tailroom(const struct rte_mbuf *m);
/* Shortens the packet by len bytes from its end; 0 on success. */
int tb_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
/* The pool an mbuf belongs to. */
struct rte_mempool *tb_mbuf_pool(const struct rte_mbuf *m);
/* rte_ring_dequeue: 0 and *obj set, or -ENOENT when empty. */
int tb_ring_dequeue(struct rte_ring *r, void **obj);
