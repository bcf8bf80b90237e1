#[ringtide::main]
async fn main(port: u16) {
    let _ = port;
}

#[ringtide::test]
async fn with_input(input: &str) {
    assert!(!input.is_empty());
}
