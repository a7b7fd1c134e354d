//! With the `dpdk` feature: finds DPDK through pkg-config (`libdpdk`), generates Rust bindings
//! for the slice of its API this crate uses (bindgen, libclang) and compiles `shim/shim.c`,
//! out-of-line wrappers of DPDK's static-inline fast-path functions (`cc`). Without the
//! feature it does nothing, so the crate builds on machines without DPDK.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "dpdk")]
    dpdk::build();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use std::path::PathBuf;

    pub fn build() {
        println!("cargo:rerun-if-changed=shim/shim.h");
        println!("cargo:rerun-if-changed=shim/shim.c");
        let lib = pkg_config::Config::new()
            .atleast_version("21.11")
            .probe("libdpdk")
            .unwrap_or_else(|e| {
                panic!(
                    "the dpdk feature needs DPDK's pkg-config file (Debian: apt-get install \
                     dpdk-dev libdpdk-dev pkg-config): {e}"
                )
            });
        // Not in libdpdk.pc's Libs (drivers are plugins there), but this crate calls into them
        // directly: rte_vdev_init/uninit and rte_eth_from_rings.
        println!("cargo:rustc-link-lib=rte_bus_vdev");
        println!("cargo:rustc-link-lib=rte_net_ring");

        // The compile flags exactly as pkg-config gives them (include paths, `-include
        // rte_config.h`, the -march DPDK was built for).
        let cflags = std::process::Command::new("pkg-config")
            .args(["--cflags", "libdpdk"])
            .output()
            .expect("pkg-config runs (it just found libdpdk)");
        let cflags: Vec<String> = String::from_utf8_lossy(&cflags.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();

        let mut cc = cc::Build::new();
        cc.file("shim/shim.c")
            .include("shim")
            .warnings(true)
            .opt_level(3);
        for inc in &lib.include_paths {
            cc.include(inc);
        }
        for f in &cflags {
            if !f.starts_with("-I") {
                cc.flag(f);
            }
        }
        cc.compile("tbdpdkshim");

        let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        bindgen::Builder::default()
            .header("shim/shim.h")
            .clang_args(&cflags)
            .allowlist_function("tb_.*")
            .allowlist_function("rte_eal_(init|cleanup|process_type)")
            .allowlist_function("rte_strerror")
            .allowlist_function("rte_socket_id")
            .allowlist_function("rte_lcore_count")
            .allowlist_function("rte_get_next_lcore")
            .allowlist_function("rte_lcore_is_enabled")
            .allowlist_function("rte_eal_(remote_launch|wait_lcore)")
            .allowlist_function("rte_eth_(dev_configure|rx_queue_setup|tx_queue_setup)")
            .allowlist_function("rte_eth_dev_(start|stop|close|socket_id|count_avail|get_mtu)")
            .allowlist_function("rte_eth_dev_(get_port_by_name|get_name_by_port|info_get|is_valid_port)")
            .allowlist_function("rte_eth_(promiscuous_enable|promiscuous_disable|promiscuous_get)")
            .allowlist_function("rte_eth_(stats_get|stats_reset|macaddr_get|link_get_nowait|dev_default_mac_addr_set|dev_mac_addr_add)")
            .allowlist_function("rte_eth_from_rings")
            .allowlist_function("rte_pktmbuf_pool_create")
            .allowlist_function("rte_pktmbuf_free_bulk")
            .allowlist_function("rte_mempool_(free|avail_count|in_use_count)")
            .allowlist_function("rte_ring_(create|free)")
            .allowlist_function("rte_vdev_(init|uninit)")
            .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
            .allowlist_var("RTE_PKTMBUF_HEADROOM")
            .allowlist_var("RTE_MAX_ETHPORTS")
            .allowlist_var("RTE_ETH_NAME_MAX_LEN")
            .allowlist_var("RING_F_.*")
            .allowlist_var("E(ALREADY|EXIST|NODEV|NOMEM|INVAL|NOSPC|BUSY|NOTSUP|NOENT)")
            .derive_default(true)
            .generate_comments(false)
            .layout_tests(false)
            .generate()
            .expect("bindgen generates bindings for DPDK (needs libclang: apt-get install libclang-dev)")
            .write_to_file(out.join("bindings.rs"))
            .expect("write bindings.rs");
    }
}
