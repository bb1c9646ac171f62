//! The part of Python's pickle that `torch.save` writes (protocols 2 to 5), read into a tree of
//! plain values. Nothing is executed: a class or function reference stays a name
//! ([`Value::Global`]) and a call to one stays a [`Value::Call`], which the checkpoint reader
//! then recognises (`torch._utils._rebuild_tensor_v2`, `collections.OrderedDict`) or refuses.

use std::cell::RefCell;
use std::rc::Rc;

/// A value as the pickle builds it. Containers are shared (`Rc`), as in Python: a memoised dict
/// that is filled after it was stored and fetched later is the same dict.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    // Read by nothing yet (no float matters to a state dict), kept for what Debug shows.
    Float(#[allow(dead_code)] f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// `module.name`, unresolved.
    Global {
        module: String,
        name: String,
    },
    /// `func(*args)` (REDUCE or NEWOBJ); `state` is what BUILD gave it, if anything.
    Call {
        func: Box<Value>,
        args: Rc<Vec<Value>>,
        state: Option<Box<Value>>,
    },
    /// A persistent id (BINPERSID): in torch files, where a storage's bytes are.
    Persistent(Box<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// A tuple's or a list's items.
    pub fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(t) => Some(t.to_vec()),
            Value::List(l) => Some(l.borrow().clone()),
            _ => None,
        }
    }

    /// `Some("module.name")` for a global.
    pub fn global(&self) -> Option<String> {
        match self {
            Value::Global { module, name } => Some(format!("{module}.{name}")),
            _ => None,
        }
    }

    /// The value under a string key of a dict.
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(d) => d.borrow().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v.clone()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PickleError(pub String);

fn fail<T>(why: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError(why.into()))
}

/// One item of the machine's stack: a value, or a MARK.
enum Item {
    Value(Value),
    Mark,
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Item>,
    memo: std::collections::HashMap<u64, Value>,
}

/// Read one pickle from the start of `bytes`; returns its value and how many bytes it took.
pub fn read(bytes: &[u8]) -> Result<(Value, usize), PickleError> {
    let mut m = Machine { bytes, at: 0, stack: Vec::new(), memo: Default::default() };
    let value = m.run()?;
    Ok((value, m.at))
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else { return fail(format!("the pickle ends early (at byte {} of {})", self.at, self.bytes.len())) };
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.bytes[self.at..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else { return fail("a text opcode without its newline") };
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.at += end + 1;
        Ok(s)
    }

    fn text(&mut self, n: usize) -> Result<String, PickleError> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| PickleError("a string that is not UTF-8".into()))
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Item::Value(v));
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(Item::Value(v)) => Ok(v),
            Some(Item::Mark) => fail("a MARK where a value was expected"),
            None => fail("the pickle's stack is empty where a value was expected"),
        }
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        match self.stack.last_mut() {
            Some(Item::Value(v)) => Ok(v),
            _ => fail("no value on the stack to modify"),
        }
    }

    /// The values above the topmost MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(mark) = self.stack.iter().rposition(|i| matches!(i, Item::Mark)) else { return fail("no MARK on the stack") };
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items.into_iter().map(|i| if let Item::Value(v) = i { v } else { unreachable!("above the last mark") }).collect())
    }

    fn memo_get(&self, key: u64) -> Result<Value, PickleError> {
        self.memo.get(&key).cloned().ok_or_else(|| PickleError(format!("memo entry {key} is read before it is written")))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        match self.top()? {
            Value::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            _ => fail("APPEND to something that is not a list"),
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return fail("SETITEMS with an odd number of values");
        }
        let dict = match self.top()? {
            Value::Dict(d) => d.clone(),
            // A dict subclass other than OrderedDict: built as a call, then filled.
            Value::Call { .. } => {
                let d: Rc<RefCell<Vec<(Value, Value)>>> = Rc::default();
                *self.top()? = Value::Dict(d.clone());
                d
            }
            _ => return fail("SETITEM on something that is not a dict"),
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            dict.borrow_mut().push((k, v));
        }
        Ok(())
    }

    fn call(&mut self, func: Value, args: Value) -> Result<Value, PickleError> {
        let args = match args {
            Value::Tuple(t) => t,
            _ => return fail("a call whose arguments are not a tuple"),
        };
        // An OrderedDict() is a dict to everything that reads a state dict.
        if func.global().as_deref() == Some("collections.OrderedDict") && args.is_empty() {
            return Ok(Value::Dict(Rc::default()));
        }
        Ok(Value::Call { func: Box::new(func), args, state: None })
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return fail(format!("pickle protocol {proto} (at most 5 is known)"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Item::Mark),
                b'}' => self.push(Value::Dict(Rc::default())),
                b']' => self.push(Value::List(Rc::default())),
                b')' => self.push(Value::Tuple(Rc::default())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(Rc::new(items)));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>, _>>()?;
                    items.reverse();
                    self.push(Value::Tuple(Rc::new(items)));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Rc::default()));
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push(Value::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push(Value::Int(v as i64));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.u8()? as usize } else { u32::from_le_bytes(self.le()?) as usize };
                    let bytes = self.take(n)?;
                    if n > 8 {
                        // Beyond i64 (the legacy format's magic number is one): kept as bytes.
                        let b = bytes.to_vec();
                        self.push(Value::Bytes(b));
                    } else {
                        let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
                        let mut full = [if negative { 0xff } else { 0 }; 8];
                        full[..n].copy_from_slice(bytes);
                        self.push(Value::Int(i64::from_le_bytes(full)));
                    }
                }
                b'I' | b'L' => {
                    let line = self.line()?;
                    let v = match line.trim_end_matches('L') {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        s => Value::Int(s.parse().map_err(|_| PickleError(format!("a bad integer '{line}'")))?),
                    };
                    self.push(v);
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.push(Value::Float(v));
                }
                b'F' => {
                    let line = self.line()?;
                    self.push(Value::Float(line.parse().map_err(|_| PickleError(format!("a bad float '{line}'")))?));
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'X' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    let s = self.text(n)?;
                    self.push(Value::Str(s));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.text(n)?;
                    self.push(Value::Str(s));
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.le()?) as usize;
                    let s = self.text(n)?;
                    self.push(Value::Str(s));
                }
                b'U' | b'T' => {
                    let n = if op == b'U' { self.u8()? as usize } else { u32::from_le_bytes(self.le()?) as usize };
                    // Python 2 str: text in the files torch writes.
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push(Value::Str(s));
                }
                b'V' => {
                    let s = self.line()?;
                    self.push(Value::Str(s));
                }
                b'C' | b'B' | 0x8e => {
                    let n = match op {
                        b'C' => self.u8()? as usize,
                        b'B' => u32::from_le_bytes(self.le()?) as usize,
                        _ => u64::from_le_bytes(self.le()?) as usize,
                    };
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => self.push(Value::Global { module, name }),
                        _ => return fail("STACK_GLOBAL without two strings"),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.call(func, args)?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    match self.top()? {
                        Value::Call { state: s, .. } => *s = Some(Box::new(state)),
                        // A dict's BUILD sets attributes (a state dict's `_metadata`): not needed.
                        Value::Dict(_) => {}
                        _ => return fail("BUILD on a value that takes no state"),
                    }
                }
                b'q' => {
                    let k = self.u8()? as u64;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.le()?) as u64;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let k = self.line()?.parse().map_err(|_| PickleError("a bad PUT".into()))?;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.u8()? as u64;
                    let v = self.memo_get(k)?;
                    self.push(v);
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.le()?) as u64;
                    let v = self.memo_get(k)?;
                    self.push(v);
                }
                b'g' => {
                    let k = self.line()?.parse().map_err(|_| PickleError("a bad GET".into()))?;
                    let v = self.memo_get(k)?;
                    self.push(v);
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.push(Value::Persistent(Box::new(id)));
                }
                b'P' => {
                    let id = self.line()?;
                    self.push(Value::Persistent(Box::new(Value::Str(id))));
                }
                b'0' => {
                    self.stack.pop();
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v);
                }
                other => return fail(format!("pickle opcode 0x{other:02x} at byte {} is not one torch.save writes", self.at - 1)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_python_pickles() {
        // pickle.dumps(collections.OrderedDict([('a', (1, -2, 3.5)), ('b', [None, True, 'x' * 300, 2**40])]), 2)
        // written out by hand opcode by opcode.
        let mut p = vec![0x80, 2, b'c'];
        p.extend(b"collections\nOrderedDict\nq\x00)R(");
        p.extend(b"X\x01\x00\x00\x00aK\x01J\xfe\xff\xff\xffG");
        p.extend(3.5f64.to_be_bytes());
        p.extend(b"\x87q\x01X\x01\x00\x00\x00b]q\x02(N\x88X\x2c\x01\x00\x00");
        p.extend(std::iter::repeat_n(b'x', 300));
        p.extend(b"\x8a\x06\x00\x00\x00\x00\x00\x01eh\x01au.");
        let (v, used) = read(&p).unwrap();
        assert_eq!(used, p.len());
        let a = v.get("a").unwrap().items().unwrap();
        assert_eq!((a[0].as_int(), a[1].as_int()), (Some(1), Some(-2)));
        assert!(matches!(a[2], Value::Float(f) if f == 3.5));
        let b = v.get("b").unwrap().items().unwrap();
        assert!(matches!(b[0], Value::None) && matches!(b[1], Value::Bool(true)));
        assert_eq!(b[2].as_str().map(str::len), Some(300));
        assert_eq!(b[3].as_int(), Some(1 << 40));
        // The memoised tuple fetched again is the same tuple.
        assert_eq!(b[4].items().unwrap().len(), 3);
    }

    #[test]
    fn a_truncated_or_foreign_pickle_is_an_error_not_a_panic() {
        assert!(read(b"\x80\x02}q\x00(X\x05\x00\x00\x00ab").is_err());
        assert!(read(b"hello world").is_err());
        assert!(read(b"").is_err());
        assert!(read(b"\x80\x02u.").is_err());
    }
}
