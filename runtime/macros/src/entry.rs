//! Turning an `async fn` into a plain `fn` that builds a runtime and blocks on the body.
//!
//! The expansion of
//!
//! ```text
//! #[ringtide::main(worker_threads = 2)]
//! async fn main() -> Result<(), Error> { BODY }
//! ```
//!
//! is, in outline (the names it introduces are hygienic):
//!
//! ```text
//! fn main() -> Result<(), Error> {
//!     let body = async move { let out: Result<(), Error> = { BODY }; return out; };
//!     let runtime = match ::ringtide::Builder::new().worker_threads(2usize).build() {
//!         Ok(runtime) => runtime,
//!         Err(err) => panic!("failed to build the ringtide runtime for `#[ringtide::main]`: {}", err),
//!     };
//!     runtime.block_on(body)
//! }
//! ```
//!
//! Binding the body's value to the declared return type makes a mismatch point at the
//! body's own tail expression, as it would in an ordinary function, and gives `?` its
//! target type. A test also pins the body and blocks on it as a
//! `Pin<&mut dyn Future<Output = T>>`, so a crate with many tests compiles one
//! `block_on` per output type instead of one per test.
//!
//! When the macro reports an error, it still expands to a function (as close to the
//! user's as it can be) so that the error stands alone instead of being followed by
//! "`main` function not found" or "`main` is not allowed to be `async`".

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{Attribute, Ident, ItemFn, ReturnType, Type};

use crate::options::{Errors, Options};

/// Which attribute is being expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    Main,
    Test,
}

impl Entry {
    fn attribute(self) -> &'static str {
        match self {
            Entry::Main => "#[ringtide::main]",
            Entry::Test => "#[ringtide::test]",
        }
    }

    /// Options the attribute applies when the user gives none.
    ///
    /// `main` is the program's one runtime, so it gets `Builder::new()`'s: a worker per
    /// CPU, pinned. The test harness runs many tests at once, each on its own thread
    /// with its own runtime: a worker per CPU per test would start (number of tests
    /// running) x (CPUs) threads, and pinning them would stack every runtime's worker
    /// `i` on CPU `i`, so tests would queue behind each other on the same cores while
    /// others idle. One unpinned worker per test lets the OS spread them.
    fn defaults(self) -> Options {
        match self {
            Entry::Main => Options::default(),
            Entry::Test => Options {
                worker_threads: Some(1),
                pin: Some(false),
                driver: None,
            },
        }
    }
}

/// Expands `#[ringtide::main(args)]` or `#[ringtide::test(args)]` on `item`.
pub(crate) fn expand(entry: Entry, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut input: ItemFn = match syn::parse2(item.clone()) {
        Ok(input) => input,
        Err(e) => {
            let message = format!("`{}` goes on an `async fn`: {e}", entry.attribute());
            let mut out = syn::Error::new(e.span(), message).into_compile_error();
            out.extend(item);
            return out;
        }
    };
    let mut errors = Errors::default();
    let options = Options::parse(args).unwrap_or_else(|e| {
        errors.push(e);
        Options::default()
    });
    let signature_ok = check_signature(entry, &input, &mut errors);
    if entry == Entry::Test {
        check_test_attributes(&input.attrs, &mut errors);
        input.attrs.retain(|attr| !is_test_attribute(attr));
    }
    let mut out = match errors.finish() {
        Ok(()) => TokenStream::new(),
        Err(e) => e.into_compile_error(),
    };
    if signature_ok {
        out.extend(expand_fn(entry, input, &options));
    } else {
        out.extend(recovery_fn(entry, input));
    }
    out
}

/// Checks what a runtime cannot run: a non-async function, arguments, generics. Returns
/// whether the function can be expanded as written.
fn check_signature(entry: Entry, input: &ItemFn, errors: &mut Errors) -> bool {
    let sig = &input.sig;
    let name = &sig.ident;
    let attribute = entry.attribute();
    let mut ok = true;
    if sig.asyncness.is_none() {
        let hint = match entry {
            Entry::Main => String::new(),
            Entry::Test => ", or use the built-in `#[test]` for a test that awaits nothing".into(),
        };
        errors.push(syn::Error::new(
            sig.fn_token.span,
            format!(
                "the `async` keyword is missing from the function declaration; \
                 write `async fn {name}()` under `{attribute}`{hint}"
            ),
        ));
        ok = false;
    }
    if !sig.inputs.is_empty() {
        let message = match entry {
            Entry::Main => format!(
                "`{attribute}` functions take no arguments; write `async fn {name}()` and \
                 read command-line arguments with `std::env::args()` in the body"
            ),
            Entry::Test => format!(
                "`{attribute}` functions take no arguments (the test harness passes none); \
                 write `async fn {name}()` and build the inputs in the body"
            ),
        };
        errors.push(syn::Error::new_spanned(&sig.inputs, message));
        ok = false;
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let tokens = if sig.generics.params.is_empty() {
            sig.generics.where_clause.to_token_stream()
        } else {
            sig.generics.to_token_stream()
        };
        errors.push(syn::Error::new_spanned(
            tokens,
            format!(
                "`{attribute}` functions cannot be generic: nothing would choose the type \
                 parameters; remove them and name the types in the body"
            ),
        ));
        ok = false;
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            format!("`{attribute}` functions take no arguments"),
        ));
        ok = false;
    }
    ok
}

/// A `#[test]` on the function as well would run it twice, or once without a runtime.
fn check_test_attributes(attrs: &[Attribute], errors: &mut Errors) {
    for attr in attrs.iter().filter(|attr| is_test_attribute(attr)) {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[ringtide::test]` already makes the function a test; remove this attribute",
        ));
    }
}

/// `#[test]`, `#[core::prelude::v1::test]`, `#[tokio::test]`, `#[ringtide::test]`...:
/// any attribute whose last path segment is `test`.
fn is_test_attribute(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "test")
}

/// The function, no longer `async`, building the runtime and blocking on its body.
fn expand_fn(entry: Entry, mut input: ItemFn, options: &Options) -> TokenStream {
    input.sig.asyncness = None;
    let body_block = &input.block;
    // Names the expansion introduces, invisible to the user's code.
    let body = Ident::new("body", Span::mixed_site());
    let out = Ident::new("out", Span::mixed_site());
    let runtime = Ident::new("runtime", Span::mixed_site());
    let err = Ident::new("err", Span::mixed_site());

    let output = nameable_output(&input.sig.output);
    let future = match &output {
        // A body that never finishes (a server's `loop`, a test that panics) is no
        // mistake: silence what the compiler and clippy would say about the binding and
        // the `return` (a statement rather than a tail, so that the attribute may sit on
        // it) that follow it.
        Some(ty) => quote! {
            async move {
                #[allow(clippy::diverging_sub_expression)]
                let #out: #ty = #body_block;
                #[allow(unreachable_code)]
                return #out;
            }
        },
        None => quote! { async move #body_block },
    };
    let pin_dyn = match (&output, entry) {
        (Some(ty), Entry::Test) => quote! {
            let #body = ::core::pin::pin!(#body);
            let #body: ::core::pin::Pin<&mut dyn ::core::future::Future<Output = #ty>> = #body;
        },
        _ => TokenStream::new(),
    };
    let calls = options.builder_calls(&entry.defaults());
    let failure = format!(
        "failed to build the ringtide runtime for `{}`: {{}}",
        entry.attribute()
    );
    let test_attr = match entry {
        // The prelude's own path: a `use ringtide::test;` in the user's module would
        // make a plain `#[test]` mean this macro again.
        Entry::Test => quote! { #[::core::prelude::v1::test] },
        Entry::Main => TokenStream::new(),
    };
    let attrs = &input.attrs;
    let vis = &input.vis;
    let sig = &input.sig;
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            let #body = #future;
            #pin_dyn
            let #runtime = match ::ringtide::Builder::new() #calls .build() {
                ::core::result::Result::Ok(#runtime) => #runtime,
                ::core::result::Result::Err(#err) => ::core::panic!(#failure, #err),
            };
            #runtime.block_on(#body)
        }
    }
}

/// The return type, where a `let` may name it (not `impl Trait`, not `!`).
fn nameable_output(output: &ReturnType) -> Option<Type> {
    match output {
        ReturnType::Default => Some(syn::parse_quote!(())),
        ReturnType::Type(_, ty) if nameable(ty) => Some((**ty).clone()),
        ReturnType::Type(..) => None,
    }
}

fn nameable(ty: &Type) -> bool {
    // `impl Trait` may hide anywhere in the type (`Result<impl Debug, E>`); look at the
    // tokens rather than walk every kind of type.
    fn has_impl(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => has_impl(group.stream()),
            _ => false,
        })
    }
    !matches!(ty, Type::Never(_)) && !has_impl(ty.to_token_stream())
}

/// What to emit beside a signature error: the function with its signature kept (so that
/// the attributes, name and return type still mean what they did) but not `async`, and
/// its body not compiled, so that the only error is the macro's own. A `main` loses its
/// arguments and generics too, so the compiler still finds a valid entry point.
fn recovery_fn(entry: Entry, mut input: ItemFn) -> TokenStream {
    input.sig.asyncness = None;
    if entry == Entry::Main {
        input.sig.inputs.clear();
        input.sig.variadic = None;
        input.sig.generics = syn::Generics::default();
    }
    let attrs = &input.attrs;
    let vis = &input.vis;
    let sig = &input.sig;
    let message = format!("{} could not expand this function", entry.attribute());
    quote! {
        #(#attrs)*
        #[allow(unused_variables, unreachable_code)]
        #vis #sig {
            ::core::panic!(#message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(entry: Entry, args: TokenStream, item: TokenStream) -> String {
        expand(entry, args, item).to_string()
    }

    fn compact(tokens: TokenStream) -> String {
        tokens.to_string().replace(' ', "")
    }

    #[test]
    fn main_uses_builder_defaults() {
        let out = expanded(
            Entry::Main,
            quote!(),
            quote!(
                async fn main() {}
            ),
        );
        let out = out.replace(' ', "");
        assert!(out.contains("::ringtide::Builder::new().build()"), "{out}");
        assert!(out.starts_with("fnmain()"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn main_options_become_builder_calls() {
        let out = expanded(
            Entry::Main,
            quote!(worker_threads = 2, pin = false, driver = "epoll"),
            quote!(
                async fn main() -> std::io::Result<()> {
                    Ok(())
                }
            ),
        );
        let calls = compact(quote!(::ringtide::Builder::new()
            .worker_threads(2usize)
            .pin_workers(false)
            .driver(::ringtide::Driver::Epoll)
            .build()));
        assert!(out.replace(' ', "").contains(&calls), "{out}");
        assert!(out.contains("std :: io :: Result < () > = {"), "{out}");
    }

    #[test]
    fn test_gets_one_unpinned_worker_and_the_prelude_test() {
        let out = expanded(
            Entry::Test,
            quote!(),
            quote!(
                #[should_panic]
                async fn t() -> Result<(), String> {
                    Ok(())
                }
            ),
        )
        .replace(' ', "");
        assert!(
            out.starts_with("#[::core::prelude::v1::test]#[should_panic]fnt()"),
            "{out}"
        );
        assert!(
            out.contains(".worker_threads(1usize).pin_workers(false).build()"),
            "{out}"
        );
        assert!(out.contains("dyn::core::future::Future<Output=Result<(),String>>"));
    }

    #[test]
    fn test_options_override_the_test_defaults() {
        let out = expanded(
            Entry::Test,
            quote!(worker_threads = 4, pin = true),
            quote!(
                async fn t() {}
            ),
        );
        assert!(out
            .replace(' ', "")
            .contains(".worker_threads(4usize).pin_workers(true).build()"));
    }

    #[test]
    fn impl_trait_output_is_not_named() {
        let out = expanded(
            Entry::Main,
            quote!(),
            quote!(
                async fn main() -> impl std::process::Termination {}
            ),
        );
        assert!(!out.contains("let out"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn errors_keep_a_valid_main() {
        let out = expanded(
            Entry::Main,
            quote!(worker_threads = 0),
            quote!(
                async fn main<T>(x: T) {}
            ),
        );
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        assert!(out.replace(' ', "").contains("fnmain()"), "{out}");
    }
}
