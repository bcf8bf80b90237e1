//! The options inside `#[ringtide::main(...)]` and `#[ringtide::test(...)]`: parsing,
//! checking, and the `Builder` calls they become.
//!
//! Every mistake is reported, not only the first, each with its span on the offending
//! token and a message that says what to write instead.

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta, Token};

/// The options as the user wrote them; `None` leaves the macro's default.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// `worker_threads = N`, N >= 1.
    pub(crate) worker_threads: Option<usize>,
    /// `pin = true|false`: `Builder::pin_workers`.
    pub(crate) pin: Option<bool>,
    /// `driver = "auto"|"io_uring"|"epoll"`: the name of the `ringtide::Driver` variant.
    pub(crate) driver: Option<&'static str>,
}

/// The option names and the form of their values, for the "unknown option" message.
const KNOWN: &str = "`worker_threads = N`, `pin = true|false` and \
                     `driver = \"auto\"|\"io_uring\"|\"epoll\"`";

/// `driver` strings and the `ringtide::Driver` variants they name.
const DRIVERS: [(&str, &str); 3] = [
    ("auto", "Auto"),
    ("io_uring", "IoUring"),
    ("epoll", "Epoll"),
];

impl Options {
    /// Parses the attribute's arguments; `Err` carries every mistake found.
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Options> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
        let mut options = Options::default();
        let mut errors = Errors::default();
        for meta in metas {
            if let Err(e) = options.set(&meta) {
                errors.push(e);
            }
        }
        errors.finish()?;
        Ok(options)
    }

    /// Records one `name = value`.
    fn set(&mut self, meta: &Meta) -> syn::Result<()> {
        let path = meta.path();
        let name = match path.get_ident() {
            Some(ident) => ident.to_string(),
            None => return Err(unknown(path.span(), &quote!(#path).to_string())),
        };
        let value = match meta {
            Meta::NameValue(nv) => &nv.value,
            Meta::Path(_) => {
                return Err(syn::Error::new(
                    path.span(),
                    format!("`{name}` needs a value: write {}", example(&name)),
                ))
            }
            Meta::List(list) => {
                return Err(syn::Error::new(
                    list.delimiter.span().join(),
                    format!(
                        "`{name}` takes its value after `=`: write {}",
                        example(&name)
                    ),
                ))
            }
        };
        match name.as_str() {
            "worker_threads" => {
                let n = worker_threads(value)?;
                set_once(&mut self.worker_threads, n, path.span(), &name)
            }
            "pin" => {
                let pin = pin(value)?;
                set_once(&mut self.pin, pin, path.span(), &name)
            }
            "driver" => {
                let driver = driver(value)?;
                set_once(&mut self.driver, driver, path.span(), &name)
            }
            _ => Err(unknown(path.span(), &name)),
        }
    }

    /// The calls on a `ringtide::Builder` that apply these options over `defaults`
    /// (options the user gave win).
    pub(crate) fn builder_calls(&self, defaults: &Options) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(n) = self.worker_threads.or(defaults.worker_threads) {
            let n = Literal::usize_suffixed(n);
            calls.extend(quote!(.worker_threads(#n)));
        }
        if let Some(pin) = self.pin.or(defaults.pin) {
            calls.extend(quote!(.pin_workers(#pin)));
        }
        if let Some(driver) = self.driver.or(defaults.driver) {
            let variant = syn::Ident::new(driver, Span::call_site());
            calls.extend(quote!(.driver(::ringtide::Driver::#variant)));
        }
        calls
    }
}

/// Several errors reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("`{name}` is given twice; keep one"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn unknown(span: Span, name: &str) -> syn::Error {
    let hint = match name {
        "workers" | "threads" | "worker_thread" | "num_workers" => {
            " (did you mean `worker_threads`?)"
        }
        "pin_workers" | "pinned" | "affinity" => " (did you mean `pin`?)",
        "flavor" => " (ringtide has one kind of runtime; set its size with `worker_threads`)",
        "backend" | "io" | "io_driver" => " (did you mean `driver`?)",
        _ => "",
    };
    syn::Error::new(
        span,
        format!("unknown option `{name}`{hint}; the options are {KNOWN}"),
    )
}

/// What a correct use of option `name` looks like.
fn example(name: &str) -> &'static str {
    match name {
        "worker_threads" => "`worker_threads = 4`",
        "pin" => "`pin = false`",
        "driver" => "`driver = \"epoll\"`",
        _ => KNOWN,
    }
}

fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        _ => None,
    }
}

fn worker_threads(value: &Expr) -> syn::Result<usize> {
    let wrong = || {
        syn::Error::new(
            value.span(),
            "`worker_threads` takes an integer literal of at least 1, such as \
             `worker_threads = 4`",
        )
    };
    let Some(Lit::Int(int)) = literal(value) else {
        return Err(wrong());
    };
    match int.base10_parse::<usize>() {
        Ok(0) => Err(syn::Error::new(
            int.span(),
            "`worker_threads` must be at least 1: a runtime needs a worker to run its tasks",
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(wrong()),
    }
}

fn pin(value: &Expr) -> syn::Result<bool> {
    match literal(value) {
        Some(Lit::Bool(b)) => Ok(b.value),
        _ => Err(syn::Error::new(
            value.span(),
            "`pin` takes `true` or `false` (whether each worker is pinned to its own CPU)",
        )),
    }
}

fn driver(value: &Expr) -> syn::Result<&'static str> {
    let wrong = |what: String| {
        syn::Error::new(
            value.span(),
            format!(
                "{what}; write `driver = \"auto\"` (io_uring where available, else epoll), \
                 `driver = \"io_uring\"` or `driver = \"epoll\"`"
            ),
        )
    };
    let Some(Lit::Str(s)) = literal(value) else {
        return Err(wrong("`driver` takes a string literal".to_string()));
    };
    let name = s.value();
    DRIVERS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, variant)| *variant)
        .ok_or_else(|| wrong(format!("unknown driver \"{name}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: TokenStream) -> Result<Options, String> {
        Options::parse(args).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_option() {
        let o = parse(quote!(worker_threads = 3, pin = true, driver = "io_uring")).unwrap();
        assert_eq!(o.worker_threads, Some(3));
        assert_eq!(o.pin, Some(true));
        assert_eq!(o.driver, Some("IoUring"));
        assert_eq!(
            o.builder_calls(&Options::default()).to_string(),
            quote!(.worker_threads(3usize).pin_workers(true).driver(::ringtide::Driver::IoUring))
                .to_string()
        );
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let defaults = Options {
            worker_threads: Some(1),
            pin: Some(false),
            driver: None,
        };
        let given = parse(quote!(pin = true, driver = "epoll")).unwrap();
        assert_eq!(
            given.builder_calls(&defaults).to_string(),
            quote!(.worker_threads(1usize).pin_workers(true).driver(::ringtide::Driver::Epoll))
                .to_string()
        );
        assert!(parse(TokenStream::new())
            .unwrap()
            .builder_calls(&Options::default())
            .is_empty());
    }

    #[test]
    fn every_mistake_is_reported() {
        let err = Options::parse(quote!(worker_threads = 0, pin = 1, speed = 2)).unwrap_err();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("at least 1"));
        assert!(messages[1].contains("`pin` takes `true` or `false`"));
        assert!(messages[2].starts_with("unknown option `speed`"));
    }

    #[test]
    fn value_mistakes() {
        let cases = [
            (quote!(worker_threads = "two"), "takes an integer literal"),
            (quote!(worker_threads = -1), "takes an integer literal"),
            (quote!(worker_threads), "`worker_threads` needs a value"),
            (
                quote!(pin(true)),
                "`pin` takes its value after `=`: write `pin = false`",
            ),
            (quote!(driver = epoll), "`driver` takes a string literal"),
            (quote!(driver = "uring"), "unknown driver \"uring\""),
            (quote!(pin = true, pin = false), "`pin` is given twice"),
            (quote!(workers = 2), "did you mean `worker_threads`?"),
            (
                quote!(ringtide::pin = true),
                "unknown option `ringtide :: pin`",
            ),
        ];
        for (args, expected) in cases {
            let err = parse(args.clone()).unwrap_err();
            assert!(err.contains(expected), "{args}: {err}");
        }
    }
}
