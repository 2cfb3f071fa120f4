//! Compiles the .proto files with protox (pure Rust: no `protoc` needed on the machine),
//! and keeps the descriptor set for gRPC server reflection.

fn main() {
    let files = [
        "proto/seedstream/v1/messages.proto",
        "proto/seedstream/v1/jobs.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"]).expect("protos compile");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(
        out.join("descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )
    .expect("write descriptor set");
    tonic_prost_build::configure()
        .btree_map(".")
        .compile_fds(fds)
        .expect("tonic codegen");
}
