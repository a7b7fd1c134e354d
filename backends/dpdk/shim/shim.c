/* Out-of-line wrappers of DPDK's static-inline fast-path functions, so Rust can call them. */
#include "shim.h"

int tb_errno(void) { return rte_errno; }

unsigned tb_lcore_id(void) { return rte_lcore_id(); }

uint16_t tb_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n) {
    return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t tb_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n) {
    return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *tb_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int tb_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n) {
    return rte_pktmbuf_alloc_bulk(mp, mbufs, n);
}

void tb_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

char *tb_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }

uint8_t *tb_mbuf_data(struct rte_mbuf *m, uint16_t *len) {
    *len = m->data_len;
    return rte_pktmbuf_mtod(m, uint8_t *);
}

uint32_t tb_mbuf_pkt_len(const struct rte_mbuf *m) { return m->pkt_len; }

uint16_t tb_mbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

uint16_t tb_mbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

int tb_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }

struct rte_mempool *tb_mbuf_pool(const struct rte_mbuf *m) { return m->pool; }

int tb_ring_dequeue(struct rte_ring *r, void **obj) { return rte_ring_dequeue(r, obj); }
