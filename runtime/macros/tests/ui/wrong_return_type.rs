// Not a misuse of the attribute but of the function: the mismatch is reported at the
// body's tail, as for an ordinary function, not at the attribute.
#[ringtide::main]
async fn main() -> Result<(), std::io::Error> {
    let n: u32 = "1".parse().unwrap();
    n
}
