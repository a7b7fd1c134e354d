use super::*;
use proptest::prelude::*;
use testbed_model::Duration;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9\\-é]{0,20}"
}

fn instance() -> impl Strategy<Value = Instance> {
    (
        name(),
        name(),
        any::<[u8; 4]>(),
        any::<[u8; 16]>(),
        any::<bool>(),
        any::<u16>(),
        proptest::collection::btree_map(name(), name(), 0..4),
    )
        .prop_map(|(service, id, v4, v6, six, port, metadata)| Instance {
            service,
            id,
            addr: if six {
                SocketAddr::new(IpAddr::V6(v6.into()), port)
            } else {
                SocketAddr::new(IpAddr::V4(v4.into()), port)
            },
            metadata,
        })
}

fn error() -> impl Strategy<Value = DiscoveryError> {
    let ms = |n: u64| Duration::from_millis(n);
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(move |(a, b)| DiscoveryError::TtlTooShort {
            asked: ms(a as u64),
            min: ms(b as u64)
        }),
        (any::<u32>(), any::<u32>()).prop_map(move |(a, b)| DiscoveryError::TtlTooLong {
            asked: ms(a as u64),
            max: ms(b as u64)
        }),
        Just(DiscoveryError::LeaseNotFound),
        Just(DiscoveryError::NotFound),
        name().prop_map(DiscoveryError::Limit),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| DiscoveryError::Compacted {
            asked: Revision(a),
            oldest: Revision(b)
        }),
        name().prop_map(DiscoveryError::Unavailable),
        name().prop_map(DiscoveryError::Protocol),
    ]
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        any::<u64>().prop_map(|ttl_ms| Msg::Grant { ttl_ms }),
        any::<u64>().prop_map(|lease| Msg::KeepAlive { lease }),
        (any::<u64>(), instance()).prop_map(|(lease, instance)| Msg::Put { lease, instance }),
        (name(), name()).prop_map(|(service, id)| Msg::Delete { service, id }),
        any::<u64>().prop_map(|lease| Msg::Revoke { lease }),
        name().prop_map(|service| Msg::Resolve { service }),
        (name(), any::<u64>()).prop_map(|(service, after)| Msg::Watch { service, after }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(lease, ttl_ms, revision)| {
            Msg::Granted {
                lease,
                ttl_ms,
                revision,
            }
        }),
        any::<u64>().prop_map(|ttl_ms| Msg::KeptAlive { ttl_ms }),
        any::<u64>().prop_map(|revision| Msg::Done { revision }),
        (any::<u64>(), proptest::collection::vec(instance(), 0..5)).prop_map(
            |(revision, instances)| Msg::Resolved {
                revision,
                instances
            }
        ),
        (any::<u64>(), instance()).prop_map(|(r, i)| Msg::Event(WatchEvent {
            revision: Revision(r),
            change: Change::Put(i)
        })),
        (any::<u64>(), name(), name()).prop_map(|(r, service, id)| Msg::Event(WatchEvent {
            revision: Revision(r),
            change: Change::Delete { service, id }
        })),
        any::<u64>().prop_map(|revision| Msg::Progress { revision }),
        error().prop_map(Msg::Error),
    ]
}

proptest! {
    #[test]
    fn round_trips_whole_and_split(m in msg(), cut in any::<prop::sample::Index>()) {
        let mut buf = Vec::new();
        encode(&mut buf, &m);
        encode(&mut buf, &Msg::Progress { revision: 7 });
        let (got, used) = decode(&buf).unwrap().unwrap();
        prop_assert_eq!(&got, &m);
        prop_assert_eq!(decode(&buf[used..]).unwrap(), Some((Msg::Progress { revision: 7 }, 13)));
        // Any strict prefix of the first frame is incomplete, never an error.
        let c = cut.index(used);
        prop_assert_eq!(decode(&buf[..c]).unwrap(), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(Some((m, used))) = decode(&bytes) {
            let mut again = Vec::new();
            encode(&mut again, &m);
            prop_assert_eq!(decode(&again).unwrap(), Some((m, again.len())));
            prop_assert!(used <= bytes.len());
        }
    }
}

#[test]
fn rejects_bad_lengths_tags_and_trailing_bytes() {
    assert_eq!(decode(&[0, 0, 0, 0]), Err(CodecError::BadLength(0)));
    let big = (FRAME_BYTES_MAX + 1).to_be_bytes();
    assert_eq!(
        decode(&big),
        Err(CodecError::BadLength(FRAME_BYTES_MAX + 1))
    );
    assert_eq!(
        decode(&[0, 0, 0, 1, 0x42]),
        Err(CodecError::UnknownTag(0x42))
    );
    assert_eq!(decode(&[0, 0, 0, 2, 2, 0]), Err(CodecError::Truncated));
    let mut b = Vec::new();
    encode(&mut b, &Msg::Revoke { lease: 1 });
    b[3] += 1;
    b.push(9);
    assert_eq!(decode(&b), Err(CodecError::Trailing(1)));
    // A string longer than the cap is refused by its length alone.
    let mut s = vec![0, 0, 0, 0, 6];
    s.extend_from_slice(&(STRING_BYTES_MAX as u16 + 1).to_be_bytes());
    s.extend(std::iter::repeat_n(b'a', STRING_BYTES_MAX + 1));
    let n = (s.len() - 4) as u32;
    s[..4].copy_from_slice(&n.to_be_bytes());
    assert_eq!(decode(&s), Err(CodecError::TooLong("string")));
    // Invalid UTF-8.
    assert_eq!(
        decode(&[0, 0, 0, 4, 6, 0, 1, 0xff]),
        Err(CodecError::BadUtf8)
    );
}
