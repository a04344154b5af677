//! `select!`: crossbeam-channel's syntax over bamboo channels.
//!
//! The macro parses its cases into a list `(index kind (args) pattern
//! body)`, evaluates every channel expression (and then every send value,
//! in case order) once, builds one typed case per arm in a tuple on the
//! stack, and hands the engine an array of type-erased references to them:
//! nothing is allocated. At most 16 cases.

/// Wait for whichever of several channel operations can go first (Go's
/// `select`), with crossbeam-channel's syntax.
///
/// ```text
/// select! {
///     recv(rx) -> v => { .. },            // v: Result<T, RecvError>
///     send(tx, value) -> r => { .. },     // r: Result<(), SendError<T>>
///     recv(bamboo::time::after(d)) -> _ => { .. },
///     default => { .. },                  // optional: nothing ready now
///     default(d) => { .. },               // optional: nothing ready within d
/// }
/// ```
///
/// When several cases are ready, one is chosen uniformly at random; exactly
/// one case takes effect. A `recv` on a channel whose senders are all gone
/// (and which is empty) is ready with `Err(RecvError)`; a `send` on a
/// channel whose receivers are all gone with `Err(SendError(value))`.
/// Without a `default`, the caller parks (a coroutine) or blocks (a plain
/// thread) until a case takes effect. Channel expressions and send values
/// are evaluated once, before anything is chosen; the value of a send case
/// that is not chosen is dropped with the select (use
/// [`sync::Select`](crate::sync::Select) to get it back).
///
/// ```
/// use std::time::Duration;
/// let rt = bamboo::Runtime::new().unwrap();
/// rt.block_on(|| {
///     let (tx, rx) = bamboo::sync::channel::<u32>(1);
///     let (_tx2, rx2) = bamboo::sync::channel::<u32>(0);
///     tx.send(1).unwrap();
///     bamboo::select! {
///         recv(rx) -> v => assert_eq!(v, Ok(1)),
///         recv(rx2) -> _ => unreachable!(),
///         default(Duration::from_secs(1)) => unreachable!(),
///     }
/// });
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__bamboo_select!(
            @parse [] [] (0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15) $($tokens)*
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bamboo_select {
    // ---- recv ----
    (@parse [$($c:tt)*] [$($d:tt)*] ($i:tt $($is:tt)*)
        recv($r:expr) -> $p:pat => $b:block $(,)? $($rest:tt)*) => {
        $crate::__bamboo_select!(@parse [$($c)* ($i recv ($r) $p => $b)] [$($d)*] ($($is)*) $($rest)*)
    };
    (@parse [$($c:tt)*] [$($d:tt)*] ($i:tt $($is:tt)*)
        recv($r:expr) -> $p:pat => $b:expr, $($rest:tt)*) => {
        $crate::__bamboo_select!(@parse [$($c)* ($i recv ($r) $p => { $b })] [$($d)*] ($($is)*) $($rest)*)
    };
    (@parse [$($c:tt)*] [$($d:tt)*] ($i:tt $($is:tt)*)
        recv($r:expr) -> $p:pat => $b:expr) => {
        $crate::__bamboo_select!(@parse [$($c)* ($i recv ($r) $p => { $b })] [$($d)*] ($($is)*))
    };
    // ---- send ----
    (@parse [$($c:tt)*] [$($d:tt)*] ($i:tt $($is:tt)*)
        send($s:expr, $v:expr) -> $p:pat => $b:block $(,)? $($rest:tt)*) => {
        $crate::__bamboo_select!(@parse [$($c)* ($i send ($s, $v) $p => $b)] [$($d)*] ($($is)*) $($rest)*)
    };
    (@parse [$($c:tt)*] [$($d:tt)*] ($i:tt $($is:tt)*)
        send($s:expr, $v:expr) -> $p:pat => $b:expr, $($rest:tt)*) => {
        $crate::__bamboo_select!(@parse [$($c)* ($i send ($s, $v) $p => { $b })] [$($d)*] ($($is)*) $($rest)*)
    };
    (@parse [$($c:tt)*] [$($d:tt)*] ($i:tt $($is:tt)*)
        send($s:expr, $v:expr) -> $p:pat => $b:expr) => {
        $crate::__bamboo_select!(@parse [$($c)* ($i send ($s, $v) $p => { $b })] [$($d)*] ($($is)*))
    };
    // ---- default ----
    (@parse [$($c:tt)*] [] ($($is:tt)*) default => $b:block $(,)? $($rest:tt)*) => {
        $crate::__bamboo_select!(@parse [$($c)*] [($crate::sync::__private::Mode::Now) $b] ($($is)*) $($rest)*)
    };
    (@parse [$($c:tt)*] [] ($($is:tt)*) default => $b:expr, $($rest:tt)*) => {
        $crate::__bamboo_select!(@parse [$($c)*] [($crate::sync::__private::Mode::Now) { $b }] ($($is)*) $($rest)*)
    };
    (@parse [$($c:tt)*] [] ($($is:tt)*) default => $b:expr) => {
        $crate::__bamboo_select!(@parse [$($c)*] [($crate::sync::__private::Mode::Now) { $b }] ($($is)*))
    };
    (@parse [$($c:tt)*] [] ($($is:tt)*) default($t:expr) => $b:block $(,)? $($rest:tt)*) => {
        $crate::__bamboo_select!(@parse [$($c)*] [($crate::sync::__private::timeout($t)) $b] ($($is)*) $($rest)*)
    };
    (@parse [$($c:tt)*] [] ($($is:tt)*) default($t:expr) => $b:expr, $($rest:tt)*) => {
        $crate::__bamboo_select!(@parse [$($c)*] [($crate::sync::__private::timeout($t)) { $b }] ($($is)*) $($rest)*)
    };
    (@parse [$($c:tt)*] [] ($($is:tt)*) default($t:expr) => $b:expr) => {
        $crate::__bamboo_select!(@parse [$($c)*] [($crate::sync::__private::timeout($t)) { $b }] ($($is)*))
    };
    (@parse [$($c:tt)*] [$($d:tt)+] ($($is:tt)*) default $($rest:tt)*) => {
        ::core::compile_error!("select!: more than one `default` case")
    };
    (@parse [$($c:tt)*] [$($d:tt)*] () $($rest:tt)+) => {
        ::core::compile_error!("select!: at most 16 cases")
    };
    // ---- done ----
    (@parse [$($c:tt)*] [$($d:tt)*] ($($is:tt)*)) => {
        $crate::__bamboo_select!(@emit [$($c)*] [$($d)*])
    };
    (@parse [$($c:tt)*] [$($d:tt)*] ($($is:tt)*) $($rest:tt)+) => {
        ::core::compile_error!(
            "select!: expected `recv(r) -> pat => body`, `send(s, v) -> pat => body`, `default => body` or `default(d) => body`"
        )
    };

    (@chan recv ($r:expr)) => { &$r };
    (@chan send ($s:expr, $v:expr)) => { &$s };
    (@case $chans:ident $i:tt recv ($r:expr)) => {
        $crate::sync::__private::recv($chans.$i)
    };
    (@case $chans:ident $i:tt send ($s:expr, $v:expr)) => {
        $crate::sync::__private::send($chans.$i, $v)
    };
    (@mode) => { $crate::sync::__private::Mode::Block };
    (@mode ($m:expr) $b:block) => { $m };
    (@default) => { ::core::unreachable!("select! without default returned no case") };
    (@default ($m:expr) $b:block) => { $b };

    (@emit [$(($i:tt $kind:ident $args:tt $p:pat => $b:block))*] [$($d:tt)*]) => {
        match ($($crate::__bamboo_select!(@chan $kind $args),)*) {
            #[allow(unused_variables)]
            __bamboo_chans => {
                #[allow(unused_mut)]
                let mut __bamboo_cases = (
                    $($crate::__bamboo_select!(@case __bamboo_chans $i $kind $args),)*
                );
                let __bamboo_mode = $crate::__bamboo_select!(@mode $($d)*);
                let __bamboo_chosen = $crate::sync::__private::select(
                    &mut [$(__bamboo_cases.$i.case()),*],
                    __bamboo_mode,
                );
                match __bamboo_chosen {
                    $(::core::option::Option::Some($i) => {
                        let $p = __bamboo_cases.$i.take();
                        $b
                    })*
                    _ => $crate::__bamboo_select!(@default $($d)*),
                }
            }
        }
    };
}
