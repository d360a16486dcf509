//! The type-level check behind `read_tool_takes_write_access`: what the code generated for
//! a `mode = read` tool would ask for does not exist, whatever the macro let through.

use secure_tool::__private::{Grant, ReadMode, WriteAccess};

fn main() {
    let _access = <WriteAccess as Grant<ReadMode>>::grant();
}
