//! The call's context and grant are made by the runtime only, once the call is
//! authorized: a handler written by hand cannot make one to hand itself.

use secure_tool::context::{CallContext, Grant};

fn main() {
    let _context = CallContext::new(None, "delete_note", secure_tool::Principal::anonymous());
    let _grant: Grant<'static> = Grant::new((), todo!());
}
