//! Micro-benchmarks of the per-request and per-byte work: strict
//! re-encoding of the path and query, V4 and V2 header signing of a typical
//! PUT, aws-chunked signing per chunk size, and decoding a client's
//! aws-chunked body.
//!
//! Run with `cargo bench --bench signing`.

use std::hint::black_box;
use std::time::SystemTime;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use zenko_signing_proxy::body::aws_chunked::{AwsChunkedBody, ChunkSigner};
use zenko_signing_proxy::body::client_chunked::DecodedBody;
use zenko_signing_proxy::credentials::Credentials;
use zenko_signing_proxy::sign::v2::V2Signer;
use zenko_signing_proxy::sign::v4::V4Signer;
use zenko_signing_proxy::uri::{PlusInPath, Query, canonical_path};

fn typical_put() -> http::request::Parts {
    http::Request::put("http://127.0.0.1:8000/bucket/photos/2024/holiday%20pic+1.jpg")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "image/jpeg")
        .header("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")
        .header("x-amz-meta-camera", "x100")
        .header("user-agent", "curl/8.5")
        .header("content-length", "1048576")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn sign_v4(c: &mut Criterion) {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
    );
    let signer = V4Signer::new(&credentials, "us-east-1");
    let hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    c.bench_function("v4 header signing, typical PUT", |b| {
        b.iter_batched(
            typical_put,
            |mut parts| {
                signer.sign(&mut parts, hash, SystemTime::now()).unwrap();
                black_box(parts)
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

fn rewrite_uri(c: &mut Criterion) {
    c.bench_function("strict path and query re-encoding", |b| {
        b.iter(|| {
            let path = canonical_path(black_box("/bucket/dir/a+b%20c:@'é.txt"), PlusInPath::Space);
            let query = Query::parse(black_box(
                "partNumber=3&uploadId=a%2Bb/c%3D&x-id=UploadPart",
            ));
            black_box((path.unwrap(), query.unwrap().to_wire()))
        })
    });
}

fn sign_v2(c: &mut Criterion) {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
    );
    let signer = V2Signer::new(&credentials);
    let query = Query::parse("uploadId=abc&partNumber=2").unwrap();
    c.bench_function("v2 header signing, typical PUT", |b| {
        b.iter_batched(
            typical_put,
            |mut parts| {
                signer
                    .sign(&mut parts, &query, None, SystemTime::now())
                    .unwrap();
                black_box(parts)
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

/// Encodes `total` bytes as signed aws-chunked in chunks of `chunk` bytes.
async fn encode(total: usize, chunk: u64, piece: &Bytes) -> usize {
    let pieces =
        (0..total / piece.len()).map(|_| Ok::<_, std::io::Error>(Frame::data(piece.clone())));
    let body = StreamBody::new(futures_util::stream::iter(pieces));
    let signer = ChunkSigner::new(
        [7; 32],
        "20130524T000000Z".into(),
        "scope".into(),
        "0".repeat(64),
    );
    let mut encoded = AwsChunkedBody::new(body, signer, chunk, total as u64);
    let mut sent = 0;
    while let Some(frame) = encoded.frame().await {
        sent += frame.unwrap().into_data().unwrap().len();
    }
    sent
}

fn chunk_signing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let total = 16 << 20;
    let piece = Bytes::from(vec![0x5a; 256 * 1024]);
    let mut group = c.benchmark_group("aws-chunked signing, 16 MiB");
    group.throughput(Throughput::Bytes(total as u64));
    group.sample_size(20);
    for chunk in [8 << 10, 64 << 10, 256 << 10, 1 << 20] {
        group.bench_with_input(BenchmarkId::from_parameter(chunk), &chunk, |b, &chunk| {
            b.iter(|| runtime.block_on(encode(total, chunk, &piece)))
        });
    }
    group.finish();
}

fn chunked_decoding(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let data = vec![0x5au8; 64 * 1024];
    let mut envelope = Vec::new();
    for _ in 0..256 {
        envelope.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        envelope.extend_from_slice(&data);
        envelope.extend_from_slice(b"\r\n");
    }
    envelope.extend_from_slice(b"0\r\n\r\n");
    let envelope = Bytes::from(envelope);
    let mut group = c.benchmark_group("aws-chunked decoding, 16 MiB");
    group.throughput(Throughput::Bytes(16 << 20));
    group.sample_size(20);
    group.bench_function("crc32 trailer absent, 256 KiB frames", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let frames = (0..envelope.len()).step_by(256 * 1024).map(|start| {
                    let end = (start + 256 * 1024).min(envelope.len());
                    Ok::<_, std::io::Error>(Frame::data(envelope.slice(start..end)))
                });
                let body = StreamBody::new(futures_util::stream::iter(frames));
                let mut decoded = DecodedBody::new(body, 16 << 20, None);
                let mut total = 0;
                while let Some(frame) = decoded.frame().await {
                    total += frame.unwrap().into_data().unwrap().len();
                }
                black_box(total)
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    sign_v4,
    sign_v2,
    rewrite_uri,
    chunk_signing,
    chunked_decoding
);
criterion_main!(benches);
