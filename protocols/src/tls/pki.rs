//! Test certificates: a CA and a leaf signed by it (CA:FALSE, the given names as SANs,
//! server and client auth), Ed25519 keys drawn from a seeded stream so the same seed gives the
//! same PKI byte for byte. rustls rejects a CA:TRUE certificate as an end entity, which is why
//! the leaf is separate from the CA.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ED25519,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use testbed_model::Rng;

/// Why the PKI could not be made.
#[derive(Debug, thiserror::Error)]
#[error("test PKI: {0}")]
pub struct PkiError(String);

/// A CA and one leaf certificate with its key.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The CA certificate (DER).
    pub ca_der: CertificateDer<'static>,
    /// The CA certificate (PEM), for peers such as curl (`--cacert`).
    pub ca_pem: String,
    /// The leaf certificate (DER).
    pub leaf_der: CertificateDer<'static>,
    /// The leaf certificate (PEM).
    pub leaf_pem: String,
    /// The leaf's private key (PKCS#8 DER).
    pub key_der: Vec<u8>,
    /// The leaf's private key (PEM).
    pub key_pem: String,
}

impl TestPki {
    /// The leaf key as rustls wants it.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// PKCS#8 v1 of an Ed25519 key from its 32-byte seed (RFC 8410).
fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

fn key_from(rng: &mut impl Rng) -> Result<KeyPair, PkiError> {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let der = PrivatePkcs8KeyDer::from(ed25519_pkcs8(&seed));
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ED25519).map_err(|e| PkiError(e.to_string()))
}

/// The leaf key's algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlg {
    /// Ed25519 from the seeded stream (deterministic signatures: what the simulator needs).
    Ed25519,
    /// ECDSA P-256 from the OS generator (not reproducible; for peers whose TLS stack does not
    /// offer Ed25519, such as BoringSSL-based clients).
    EcdsaP256,
}

/// A CA plus a leaf for `names` (DNS names or IP addresses), Ed25519 keys drawn from `rng`.
pub fn test_pki(names: &[&str], rng: &mut impl Rng) -> Result<TestPki, PkiError> {
    test_pki_with(names, KeyAlg::Ed25519, rng)
}

/// [`test_pki`] with a choice of key algorithm for both certificates.
pub fn test_pki_with(names: &[&str], alg: KeyAlg, rng: &mut impl Rng) -> Result<TestPki, PkiError> {
    let err = |e: rcgen::Error| PkiError(e.to_string());
    let key_from = |rng: &mut _| match alg {
        KeyAlg::Ed25519 => key_from(rng),
        KeyAlg::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| PkiError(e.to_string())),
    };
    let ca_key = key_from(rng)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Testbed test CA");
    ca.distinguished_name = dn;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;

    let leaf_key = key_from(rng)?;
    let mut leaf = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .map_err(err)?;
    // CA:FALSE as DER requires: an empty BasicConstraints (rcgen's ExplicitNoCa encodes the
    // default `cA FALSE` explicitly, which strict parsers such as Python's cryptography
    // reject).
    leaf.is_ca = IsCa::NoCa;
    let mut bc = CustomExtension::from_oid_content(&[2, 5, 29, 19], vec![0x30, 0x00]);
    bc.set_criticality(true);
    leaf.custom_extensions.push(bc);
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("testbed"),
    );
    leaf.distinguished_name = dn;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).map_err(err)?;

    Ok(TestPki {
        ca_der: ca_cert.der().clone(),
        ca_pem: ca_cert.pem(),
        leaf_der: leaf_cert.der().clone(),
        leaf_pem: leaf_cert.pem(),
        key_der: leaf_key.serialize_der(),
        key_pem: leaf_key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_model::SeededRng;

    #[test]
    fn the_same_seed_gives_the_same_pki() {
        let a = test_pki(&["localhost", "127.0.0.1"], &mut SeededRng::new(1)).unwrap();
        let b = test_pki(&["localhost", "127.0.0.1"], &mut SeededRng::new(1)).unwrap();
        let c = test_pki(&["localhost", "127.0.0.1"], &mut SeededRng::new(2)).unwrap();
        assert_eq!(a.leaf_pem, b.leaf_pem);
        assert_eq!(a.key_der, b.key_der);
        assert_ne!(a.key_der, c.key_der);
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(a.key_pem.contains("PRIVATE KEY"));
    }

    #[test]
    fn the_leaf_says_ca_false_in_strict_der() {
        let p = test_pki(&["localhost"], &mut SeededRng::new(3)).unwrap();
        let der = p.leaf_der.as_ref();
        // basicConstraints OID 2.5.29.19, critical TRUE, value OCTET STRING { SEQUENCE {} }.
        let ext = [
            0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04, 0x02, 0x30, 0x00,
        ];
        assert!(
            der.windows(ext.len()).any(|w| w == ext),
            "empty critical BasicConstraints"
        );
        // No explicit `cA FALSE` (BOOLEAN 0) anywhere after the OID.
        let at = der
            .windows(5)
            .position(|w| w == [0x06, 0x03, 0x55, 0x1d, 0x13])
            .unwrap();
        assert!(!der[at..at + 16].windows(3).any(|w| w == [0x01, 0x01, 0x00]));
    }
}
