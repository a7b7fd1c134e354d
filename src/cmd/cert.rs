//! `testbed cert`: a test CA and leaf certificate as PEM files.

use std::process::ExitCode;

/// Write a test CA and a leaf certificate (CA:FALSE, the names as SANs, Ed25519) as PEM:
/// DIR/ca.pem, DIR/cert.pem, DIR/key.pem. For tests only.
#[derive(clap::Args, Debug)]
pub struct CertArgs {
    /// Output directory.
    pub dir: std::path::PathBuf,
    /// DNS names or IP addresses for the leaf, repeatable.
    #[arg(long = "name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
    pub names: Vec<String>,
    /// Seed for the keys (default: from the OS; a fixed seed gives the same PKI every time).
    #[arg(long)]
    pub seed: Option<u64>,
    /// ECDSA P-256 keys instead of Ed25519 (for clients without Ed25519, such as
    /// BoringSSL-based curl_cffi); always from the OS generator.
    #[arg(long)]
    pub ecdsa: bool,
}

/// Runs `testbed cert`.
pub fn run(a: CertArgs) -> ExitCode {
    cert(&a.dir, &a.names, a.seed, a.ecdsa)
}

fn cert(dir: &std::path::Path, names: &[String], seed: Option<u64>, ecdsa: bool) -> ExitCode {
    let seed = match seed.map_or_else(testbed_kernel::os_seed, Ok) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("testbed: reading /dev/urandom: {e}");
            return ExitCode::from(1);
        }
    };
    let alg = if ecdsa {
        testbed_protocols::tls::KeyAlg::EcdsaP256
    } else {
        testbed_protocols::tls::KeyAlg::Ed25519
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let pki = match testbed_protocols::tls::test_pki_with(
        &names,
        alg,
        &mut testbed_model::SeededRng::new(seed),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("testbed: {e}");
            return ExitCode::from(1);
        }
    };
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem)?;
        std::fs::write(dir.join("cert.pem"), &pki.leaf_pem)?;
        std::fs::write(dir.join("key.pem"), &pki.key_pem)
    };
    if let Err(e) = write() {
        eprintln!("testbed: writing to {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    println!(
        "wrote {0}/ca.pem, {0}/cert.pem, {0}/key.pem for {1}",
        dir.display(),
        names.join(", ")
    );
    ExitCode::SUCCESS
}
