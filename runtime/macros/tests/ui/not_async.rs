#[ringtide::main]
fn main() {}

#[ringtide::test]
fn sync_test() {}

#[ringtide::test]
struct NotAFunction;
