//! A parser for the subset of GraphQL query documents that segment fetching uses: one query
//! operation (optionally named, with variable definitions), fields with aliases, arguments and
//! nested selections. Fragments and directives are refused with a syntax error.

/// Line and column (both from 1) of a token in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// A query text that could not be parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub(crate) message: String,
    pub(crate) position: Position,
}

/// An argument or default value as written in the query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InputValue {
    Variable(String),
    String(String),
    Int(i64),
    Float(f64),
    Boolean(bool),
    Null,
    Enum(String),
    List(Vec<InputValue>),
    Object(Vec<(String, InputValue)>),
}

/// One selected field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub(crate) alias: Option<String>,
    pub(crate) name: String,
    pub(crate) arguments: Vec<(String, InputValue)>,
    pub(crate) selection: Vec<Field>,
    pub(crate) position: Position,
}

impl Field {
    /// The key of this field in the response: its alias, or its name.
    pub(crate) fn response_key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// A declared `$variable` and its default value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VariableDefinition {
    pub(crate) name: String,
    pub(crate) default: Option<InputValue>,
}

/// The one query operation of a document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operation {
    pub(crate) variables: Vec<VariableDefinition>,
    pub(crate) selection: Vec<Field>,
}

/// Deepest nesting of selections, lists and types accepted (bounds recursion on hostile input).
const MAX_DEPTH: usize = 64;

pub(crate) fn parse(query: &str) -> Result<Operation, SyntaxError> {
    let tokens = tokenize(query)?;
    Parser { tokens, at: 0 }.document()
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Punct(char),
    Spread,
    Name(String),
    Int(String),
    Float(String),
    Str(String),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    position: Position,
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Punct(c) => format!("'{c}'"),
        Kind::Spread => "'...'".to_owned(),
        Kind::Name(name) => format!("'{name}'"),
        Kind::Int(n) | Kind::Float(n) => format!("number {n}"),
        Kind::Str(_) => "a string".to_owned(),
        Kind::End => "the end of the query".to_owned(),
    }
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    column: usize,
}

impl Lexer<'_> {
    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            position: self.position(),
        }
    }

    fn skip_ignored(&mut self) {
        while let Some(&c) = self.chars.peek() {
            match c {
                ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => {
                    self.bump();
                }
                '#' => {
                    while self.chars.peek().is_some_and(|&c| c != '\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, SyntaxError> {
        self.skip_ignored();
        let position = self.position();
        let kind = match self.chars.peek().copied() {
            None => Kind::End,
            Some('.') => self.spread()?,
            Some('"') => Kind::Str(self.string()?),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number()?,
            Some(c) if c == '_' || c.is_ascii_alphabetic() => Kind::Name(self.name()),
            Some(c) if "!$():=@[]{}|&".contains(c) => {
                self.bump();
                Kind::Punct(c)
            }
            Some(c) => return Err(self.error(format!("unexpected character '{c}'"))),
        };
        Ok(Token { kind, position })
    }

    fn spread(&mut self) -> Result<Kind, SyntaxError> {
        for _ in 0..3 {
            if self.bump() != Some('.') {
                return Err(self.error("unexpected character '.'"));
            }
        }
        Ok(Kind::Spread)
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.peek() {
            if c != '_' && !c.is_ascii_alphanumeric() {
                break;
            }
            name.push(c);
            self.bump();
        }
        name
    }

    fn digits(&mut self, into: &mut String) -> usize {
        let mut count = 0;
        while let Some(&c) = self.chars.peek().filter(|c| c.is_ascii_digit()) {
            into.push(c);
            self.bump();
            count += 1;
        }
        count
    }

    fn number(&mut self) -> Result<Kind, SyntaxError> {
        let mut text = String::new();
        if self.chars.peek() == Some(&'-') {
            text.push('-');
            self.bump();
        }
        if self.digits(&mut text) == 0 {
            return Err(self.error("expected a digit"));
        }
        let mut is_float = false;
        if self.chars.peek() == Some(&'.') {
            is_float = true;
            text.push('.');
            self.bump();
            if self.digits(&mut text) == 0 {
                return Err(self.error("expected a digit after '.'"));
            }
        }
        if let Some(&e) = self.chars.peek().filter(|c| matches!(c, 'e' | 'E')) {
            is_float = true;
            text.push(e);
            self.bump();
            if let Some(&sign) = self.chars.peek().filter(|c| matches!(c, '+' | '-')) {
                text.push(sign);
                self.bump();
            }
            if self.digits(&mut text) == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        Ok(if is_float {
            Kind::Float(text)
        } else {
            Kind::Int(text)
        })
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.bump();
        if self.chars.peek() == Some(&'"') {
            self.bump();
            if self.chars.peek() == Some(&'"') {
                return Err(self.error("block strings are not supported"));
            }
            return Ok(String::new());
        }
        let mut text = String::new();
        loop {
            match self.bump() {
                None | Some('\n') | Some('\r') => return Err(self.error("unterminated string")),
                Some('"') => return Ok(text),
                Some('\\') => text.push(self.escape()?),
                Some(c) => text.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        Ok(match self.bump() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => self.unicode_escape()?,
            _ => return Err(self.error("invalid escape sequence in string")),
        })
    }

    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self
                .bump()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| self.error("invalid \\u escape in string"))?;
            code = code * 16 + digit;
        }
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape in string"))
    }
}

fn tokenize(query: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lexer = Lexer {
        chars: query.chars().peekable(),
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.kind == Kind::End;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // `tokenize` always ends with `End`, and `advance` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != Kind::End {
            self.at += 1;
        }
        token
    }

    fn error_here(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            position: self.peek().position,
        }
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        self.error_here(format!(
            "expected {expected}, found {}",
            describe(&self.peek().kind)
        ))
    }

    fn at_punct(&self, c: char) -> bool {
        self.peek().kind == Kind::Punct(c)
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let found = self.at_punct(c);
        if found {
            self.advance();
        }
        found
    }

    fn expect_punct(&mut self, c: char) -> Result<(), SyntaxError> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{c}'")))
        }
    }

    fn expect_name(&mut self) -> Result<String, SyntaxError> {
        match &self.peek().kind {
            Kind::Name(name) => {
                let name = name.clone();
                self.advance();
                Ok(name)
            }
            _ => Err(self.unexpected("a name")),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error_here("query is nested too deeply"));
        }
        Ok(())
    }

    fn document(mut self) -> Result<Operation, SyntaxError> {
        let operation = self.operation()?;
        match self.peek().kind {
            Kind::End => Ok(operation),
            _ => Err(self.error_here("only one operation per request is supported")),
        }
    }

    fn operation(&mut self) -> Result<Operation, SyntaxError> {
        if self.at_punct('{') {
            let selection = self.selection_set(0)?;
            return Ok(Operation {
                variables: Vec::new(),
                selection,
            });
        }
        match &self.peek().kind {
            Kind::Name(keyword) if keyword == "query" => {}
            Kind::Name(keyword) if keyword == "mutation" || keyword == "subscription" => {
                return Err(self.error_here("only query operations are supported"));
            }
            Kind::Name(keyword) if keyword == "fragment" => {
                return Err(self.error_here("fragments are not supported"));
            }
            _ => return Err(self.unexpected("'query' or '{'")),
        }
        self.advance();
        if matches!(self.peek().kind, Kind::Name(_)) {
            self.advance();
        }
        let variables = if self.at_punct('(') {
            self.variable_definitions()?
        } else {
            Vec::new()
        };
        self.refuse_directives()?;
        let selection = self.selection_set(0)?;
        Ok(Operation {
            variables,
            selection,
        })
    }

    fn refuse_directives(&self) -> Result<(), SyntaxError> {
        if self.at_punct('@') {
            return Err(self.error_here("directives are not supported"));
        }
        Ok(())
    }

    fn variable_definitions(&mut self) -> Result<Vec<VariableDefinition>, SyntaxError> {
        self.expect_punct('(')?;
        let mut definitions = Vec::new();
        while !self.eat_punct(')') {
            self.expect_punct('$')?;
            let name = self.expect_name()?;
            self.expect_punct(':')?;
            self.type_reference(0)?;
            let default = if self.eat_punct('=') {
                Some(self.value(0)?)
            } else {
                None
            };
            self.refuse_directives()?;
            definitions.push(VariableDefinition { name, default });
        }
        Ok(definitions)
    }

    /// Types are checked for syntax only; values are checked where they are used.
    fn type_reference(&mut self, depth: usize) -> Result<(), SyntaxError> {
        self.check_depth(depth)?;
        if self.eat_punct('[') {
            self.type_reference(depth + 1)?;
            self.expect_punct(']')?;
        } else {
            self.expect_name()?;
        }
        self.eat_punct('!');
        Ok(())
    }

    fn selection_set(&mut self, depth: usize) -> Result<Vec<Field>, SyntaxError> {
        self.check_depth(depth)?;
        self.expect_punct('{')?;
        let mut fields = Vec::new();
        while !self.eat_punct('}') {
            if self.peek().kind == Kind::Spread {
                return Err(self.error_here("fragments are not supported"));
            }
            fields.push(self.field(depth)?);
        }
        if fields.is_empty() {
            return Err(self.error_here("a selection set must select at least one field"));
        }
        Ok(fields)
    }

    fn field(&mut self, depth: usize) -> Result<Field, SyntaxError> {
        let position = self.peek().position;
        let first = self.expect_name()?;
        let (alias, name) = if self.eat_punct(':') {
            (Some(first), self.expect_name()?)
        } else {
            (None, first)
        };
        let arguments = if self.at_punct('(') {
            self.arguments()?
        } else {
            Vec::new()
        };
        self.refuse_directives()?;
        let selection = if self.at_punct('{') {
            self.selection_set(depth + 1)?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            arguments,
            selection,
            position,
        })
    }

    fn arguments(&mut self) -> Result<Vec<(String, InputValue)>, SyntaxError> {
        self.expect_punct('(')?;
        let mut arguments = Vec::new();
        while !self.eat_punct(')') {
            let name = self.expect_name()?;
            self.expect_punct(':')?;
            arguments.push((name, self.value(0)?));
        }
        Ok(arguments)
    }

    fn value(&mut self, depth: usize) -> Result<InputValue, SyntaxError> {
        self.check_depth(depth)?;
        let token = self.peek().clone();
        let value = match token.kind {
            Kind::Punct('$') => {
                self.advance();
                return Ok(InputValue::Variable(self.expect_name()?));
            }
            Kind::Punct('[') => return self.list(depth),
            Kind::Punct('{') => return self.object(depth),
            Kind::Str(text) => InputValue::String(text),
            Kind::Int(text) => match text.parse() {
                Ok(n) => InputValue::Int(n),
                Err(_) => return Err(self.error_here(format!("integer {text} is out of range"))),
            },
            Kind::Float(text) => match text.parse() {
                Ok(x) => InputValue::Float(x),
                Err(_) => return Err(self.error_here(format!("invalid number {text}"))),
            },
            Kind::Name(name) => match name.as_str() {
                "true" => InputValue::Boolean(true),
                "false" => InputValue::Boolean(false),
                "null" => InputValue::Null,
                _ => InputValue::Enum(name),
            },
            _ => return Err(self.unexpected("a value")),
        };
        self.advance();
        Ok(value)
    }

    fn list(&mut self, depth: usize) -> Result<InputValue, SyntaxError> {
        self.expect_punct('[')?;
        let mut items = Vec::new();
        while !self.eat_punct(']') {
            items.push(self.value(depth + 1)?);
        }
        Ok(InputValue::List(items))
    }

    fn object(&mut self, depth: usize) -> Result<InputValue, SyntaxError> {
        self.expect_punct('{')?;
        let mut fields = Vec::new();
        while !self.eat_punct('}') {
            let name = self.expect_name()?;
            self.expect_punct(':')?;
            fields.push((name, self.value(depth + 1)?));
        }
        Ok(InputValue::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARIABLES_FORM: &str = "query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) {audiences(subset: $audiences) {edges {node {name state}}}}}";
    const INLINED_FORM: &str = r#"query {customer(fs_user_id : "tester-101") {audiences(subset: ["has_email","has_email_opted_in"]) {edges {node {name state}}}}}"#;

    fn customer(operation: &Operation) -> &Field {
        &operation.selection[0]
    }

    #[test]
    fn parses_the_variables_form() {
        let operation = parse(VARIABLES_FORM).unwrap();
        let names: Vec<&str> = operation
            .variables
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(names, ["userId", "audiences"]);
        let customer = customer(&operation);
        assert_eq!(customer.name, "customer");
        assert_eq!(
            customer.arguments,
            [(
                "fs_user_id".to_owned(),
                InputValue::Variable("userId".into())
            )]
        );
        let audiences = &customer.selection[0];
        assert_eq!(
            audiences.arguments[0].1,
            InputValue::Variable("audiences".into())
        );
        let node = &audiences.selection[0].selection[0];
        let leaves: Vec<&str> = node.selection.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(leaves, ["name", "state"]);
    }

    #[test]
    fn parses_the_inlined_form() {
        let operation = parse(INLINED_FORM).unwrap();
        let customer = customer(&operation);
        assert_eq!(
            customer.arguments[0].1,
            InputValue::String("tester-101".into())
        );
        assert_eq!(
            customer.selection[0].arguments[0].1,
            InputValue::List(vec![
                InputValue::String("has_email".into()),
                InputValue::String("has_email_opted_in".into()),
            ])
        );
    }

    #[test]
    fn reads_escapes_aliases_comments_and_positions() {
        let query =
            "# comment\nquery Named {\n  c: customer(vuid: \"a\\\"b\\u00e9\") { __typename }\n}";
        let operation = parse(query).unwrap();
        let customer = customer(&operation);
        assert_eq!(customer.response_key(), "c");
        assert_eq!(
            customer.arguments[0].1,
            InputValue::String("a\"b\u{e9}".into())
        );
        assert_eq!(customer.position, Position { line: 3, column: 3 });
    }

    #[test]
    fn refuses_what_it_cannot_handle() {
        for (query, message) in [
            ("", "expected 'query' or '{', found the end of the query"),
            ("mutation { x }", "only query operations are supported"),
            ("{ customer { ...F } }", "fragments are not supported"),
            (
                "{ customer @skip(if: true) }",
                "directives are not supported",
            ),
            ("{ customer(a: \"x) }", "unterminated string"),
            (
                "{ customer { } }",
                "a selection set must select at least one field",
            ),
            ("{ a } { b }", "only one operation per request is supported"),
            (
                "{ a(x: 99999999999999999999) }",
                "integer 99999999999999999999 is out of range",
            ),
            ("{ a ", "expected a name, found the end of the query"),
            ("{ a(x: \"\\q\") }", "invalid escape sequence in string"),
            ("{ a ; }", "unexpected character ';'"),
        ] {
            assert_eq!(parse(query).unwrap_err().message, message, "{query}");
        }
    }

    #[test]
    fn bounds_nesting() {
        let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(500), "]".repeat(500));
        assert_eq!(
            parse(&deep).unwrap_err().message,
            "query is nested too deeply"
        );
        let deep = format!("{}{}", "{ a ".repeat(500), "}".repeat(500));
        assert_eq!(
            parse(&deep).unwrap_err().message,
            "query is nested too deeply"
        );
    }
}
