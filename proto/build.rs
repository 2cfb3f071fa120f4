//! Compiles the .proto files with protox (pure Rust: no `protoc` needed on the machine).

fn main() {
    let files = ["proto/seedstream/v1/messages.proto"];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"]).expect("protos compile");
    prost_build::Config::new()
        .btree_map(["."])
        .compile_fds(fds)
        .expect("prost codegen");
}
