//! Hands the commands to the server: each command's own declaration (see `declaration`)
//! turned into the server's structures, through the raw registration that loads on Redis 7.0
//! and later and on Valkey. Newer facilities (internal commands, module ACL categories) are
//! used where the server has them.

use std::ffi::{c_char, c_int, CStr, CString};

use redis_module::raw;

use super::declaration::{ArgDoc, ArgType, Command, Keys};
use super::{acquire, hit, mhit, peek, release, renew, set_leases, set_state, throttle};
use crate::redis::context::Ctx;

/// Every command, in the order they are registered.
const COMMANDS: &[&Command] = &[
    &hit::COMMAND,
    &peek::COMMAND,
    &mhit::COMMAND,
    &set_state::COMMAND,
    &acquire::COMMAND,
    &release::COMMAND,
    &renew::COMMAND,
    &set_leases::COMMAND,
];

/// The ACL category of the rate-limiting commands, where the server supports module
/// categories.
const ACL_CATEGORY: &CStr = c"ratelimit";
const SINCE: &CStr = c"0.1.0";

/// The layout of the command info structures below, as the server's header defines it (it is a
/// `static const` there, not an exported symbol).
static INFO_VERSION: raw::RedisModuleCommandInfoVersion = raw::RedisModuleCommandInfoVersion {
    version: 1,
    sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
    sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
    sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
};

/// Registers every command, and CL.THROTTLE when `cell_compat`. Called from OnLoad.
pub fn register(ctx: Ctx, cell_compat: bool) -> Result<(), String> {
    let category = match ctx.add_acl_category(ACL_CATEGORY) {
        Some(true) => Some(ACL_CATEGORY),
        Some(false) => return Err("could not add the ACL category ratelimit".into()),
        None => None,
    };
    let cell = cell_compat.then_some(&throttle::COMMAND);
    for command in COMMANDS.iter().copied().chain(cell) {
        register_one(ctx, command, category)?;
    }
    Ok(())
}

fn register_one(ctx: Ctx, command: &Command, category: Option<&CStr>) -> Result<(), String> {
    let name = command.name.to_string_lossy();
    // The legacy (first, last, step) key triple; commands with counted keys declare them
    // through their key specification only.
    let keys = match command.keys {
        Keys::First(_) => (1, 1, 1),
        Keys::Counted(_) => (0, 0, 0),
    };
    let internal_flags = CString::new(format!("{} internal", command.flags.to_string_lossy()))
        .map_err(|e| e.to_string())?;
    // Servers without internal commands refuse the flag, registering nothing.
    let created = (command.internal
        && ctx.create_command(command.name, Some(command.entry), &internal_flags, keys))
        || ctx.create_command(command.name, Some(command.entry), command.flags, keys);
    if !created {
        return Err(format!("could not create command {name}"));
    }
    let handle = ctx
        .command(command.name)
        .ok_or_else(|| format!("could not find command {name}"))?;
    let mut docs = Docs::default();
    if !docs.set_info(&handle, command) {
        return Err(format!("could not set the command info of {name}"));
    }
    if let Some(category) = category {
        let mut categories = command.acl_categories.to_string();
        if command.rate_limiting {
            categories = format!("{categories} {}", category.to_string_lossy());
        }
        let categories = CString::new(categories).map_err(|e| e.to_string())?;
        if handle.set_acl_categories(&categories) != Some(true) {
            return Err(format!("could not set the ACL categories of {name}"));
        }
    }
    Ok(())
}

fn key_spec(keys: Keys) -> raw::RedisModuleCommandKeySpec {
    // SAFETY: a plain C structure of integers, pointers and unions of them: all zeros is its
    // empty value, as the server's header documents for unused fields.
    let mut spec: raw::RedisModuleCommandKeySpec = unsafe { std::mem::zeroed() };
    spec.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = 1;
    match keys {
        Keys::First(flags) => {
            spec.flags = u64::from(flags);
            spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
            spec.fk.range.lastkey = 0;
            spec.fk.range.keystep = 1;
            spec.fk.range.limit = 0;
        }
        Keys::Counted(flags) => {
            spec.flags = u64::from(flags);
            spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_KEYNUM;
            spec.fk.keynum.keynumidx = 0;
            spec.fk.keynum.firstkey = 1;
            spec.fk.keynum.keystep = 1;
        }
    }
    spec
}

/// The documentation in the server's layout: texts and argument arrays (each ending with a
/// zeroed entry) kept alive here until the server has copied them.
#[derive(Default)]
struct Docs {
    texts: Vec<CString>,
    lists: Vec<Vec<raw::RedisModuleCommandArg>>,
}

impl Docs {
    fn text(&mut self, text: &str) -> *const c_char {
        let text = CString::new(text).unwrap_or_default();
        // Moving the CString into `texts` does not move its heap buffer.
        let ptr = text.as_ptr();
        self.texts.push(text);
        ptr
    }

    fn set_info(&mut self, handle: &crate::redis::setup::Command, command: &Command) -> bool {
        // SAFETY: all zeros is the empty key spec that ends the list (see `key_spec`).
        let mut key_specs = [key_spec(command.keys), unsafe { std::mem::zeroed() }];
        let args = self.list(command.args);
        let info = raw::RedisModuleCommandInfo {
            version: &INFO_VERSION,
            summary: self.text(command.summary),
            complexity: self.text(command.complexity),
            since: SINCE.as_ptr(),
            history: std::ptr::null_mut(),
            tips: std::ptr::null(),
            arity: command.arity,
            key_specs: key_specs.as_mut_ptr(),
            args,
        };
        handle.set_info(&info)
    }

    fn list(&mut self, args: &[ArgDoc]) -> *mut raw::RedisModuleCommandArg {
        let mut list: Vec<raw::RedisModuleCommandArg> = Vec::with_capacity(args.len() + 1);
        for a in args {
            let subargs = if a.subargs.is_empty() {
                std::ptr::null_mut()
            } else {
                self.list(a.subargs)
            };
            let doc = self.arg(a, subargs);
            list.push(doc);
        }
        // SAFETY: all zeros is the empty entry that ends an argument list.
        list.push(unsafe { std::mem::zeroed() });
        // Moving the Vec into `lists` does not move its heap buffer.
        let ptr = list.as_mut_ptr();
        self.lists.push(list);
        ptr
    }

    fn arg(
        &mut self,
        a: &ArgDoc,
        subargs: *mut raw::RedisModuleCommandArg,
    ) -> raw::RedisModuleCommandArg {
        // SAFETY: a plain C structure; all zeros leaves every optional field empty.
        let mut doc: raw::RedisModuleCommandArg = unsafe { std::mem::zeroed() };
        doc.name = self.text(a.name);
        doc.type_ = match a.kind {
            ArgType::Key => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
            ArgType::Integer => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
            ArgType::String => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
            ArgType::Block => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
        };
        doc.key_spec_index = match a.kind {
            ArgType::Key => 0,
            _ => -1,
        };
        doc.token = a.token.map_or(std::ptr::null(), |t| self.text(t));
        doc.summary = self.text(&a.summary.render());
        let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
        if a.optional {
            flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
        }
        if a.multiple {
            flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
        }
        doc.flags = flags as c_int;
        doc.subargs = subargs;
        doc
    }
}
