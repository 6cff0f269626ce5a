// PEP 508 environment markers: a recursive-descent parser into a small tree, evaluated
// against an Environment and a set of active extras (uv's conflict encoding relies on
// `extra` being a set, not a single value).
#include <algorithm>

#include "pep508/requirement.hpp"
#include "util/error.hpp"

namespace pb::pep508 {

enum class Var {
  none,  // the side is a quoted string
  python_version,
  python_full_version,
  implementation_version,
  os_name,
  sys_platform,
  platform_release,
  platform_system,
  platform_version,
  platform_machine,
  platform_python_implementation,
  implementation_name,
  extra,             // one extra, compared with == / != against the active set
  extras,            // PEP 751: the set of extras (`'x' in extras`)
  dependency_groups  // PEP 751: the set of groups
};

enum class CmpOp { eq, ne, lt, le, gt, ge, compatible, arbitrary, in, not_in };

struct MarkerNode {
  enum class Kind { all, any, cmp } kind = Kind::cmp;
  std::vector<MarkerNode> children;  // all / any
  // cmp: exactly one side is a variable.
  Var lhs_var = Var::none, rhs_var = Var::none;
  std::string lhs, rhs;  // the quoted strings (normalized for extra names)
  CmpOp op = CmpOp::eq;
  // `version_var op 'literal'` with a literal that forms a valid specifier, parsed once.
  std::optional<pep440::Specifier> spec;
};

namespace {

struct VarName {
  std::string_view text;
  Var var;
};
constexpr VarName kVars[] = {
    {"python_version", Var::python_version},
    {"python_full_version", Var::python_full_version},
    {"implementation_version", Var::implementation_version},
    {"os_name", Var::os_name},
    {"sys_platform", Var::sys_platform},
    {"platform_release", Var::platform_release},
    {"platform_system", Var::platform_system},
    {"platform_version", Var::platform_version},
    {"platform_machine", Var::platform_machine},
    {"platform_python_implementation", Var::platform_python_implementation},
    {"implementation_name", Var::implementation_name},
    {"extra", Var::extra},
    {"extras", Var::extras},
    {"dependency_groups", Var::dependency_groups},
    // Legacy spellings still found in old metadata (accepted by `packaging`).
    {"os.name", Var::os_name},
    {"sys.platform", Var::sys_platform},
    {"platform.version", Var::platform_version},
    {"platform.machine", Var::platform_machine},
    {"platform.python_implementation", Var::platform_python_implementation},
    {"python_implementation", Var::platform_python_implementation},
};

std::string_view var_name(Var v) {
  for (auto& [text, var] : kVars)
    if (var == v) return text;  // canonical spelling comes first
  return "";
}

bool is_version_var(Var v) {
  return v == Var::python_version || v == Var::python_full_version || v == Var::implementation_version;
}
bool is_set_var(Var v) {
  return v == Var::extra || v == Var::extras || v == Var::dependency_groups;
}

constexpr std::pair<std::string_view, CmpOp> kOps[] = {
    {"===", CmpOp::arbitrary}, {"==", CmpOp::eq},         {"!=", CmpOp::ne}, {"<=", CmpOp::le},
    {">=", CmpOp::ge},         {"~=", CmpOp::compatible}, {"<", CmpOp::lt},  {">", CmpOp::gt},
};

std::string_view op_name(CmpOp op) {
  if (op == CmpOp::in) return "in";
  if (op == CmpOp::not_in) return "not in";
  for (auto& [t, o] : kOps)
    if (o == op) return t;
  return "";
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  MarkerNode parse_all() {
    MarkerNode n = parse_or(0);
    skip();
    if (i_ < s_.size()) fail("expected 'and', 'or' or the end");
    return n;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error("invalid marker '" + std::string(s_) + "': " + what + " at column " + std::to_string(i_ + 1),
                Exit::usage);
  }
  void skip() {
    while (i_ < s_.size() && is_space(s_[i_])) ++i_;
  }
  // Keyword at the cursor, followed by a non-word character.
  bool keyword(std::string_view kw) {
    skip();
    if (s_.substr(i_, kw.size()) != kw) return false;
    size_t end = i_ + kw.size();
    if (end < s_.size() && is_word(s_[end])) return false;
    i_ = end;
    return true;
  }

  static void append(MarkerNode& into, MarkerNode&& child) {
    if (child.kind == into.kind) {
      for (auto& c : child.children) into.children.push_back(std::move(c));
    } else {
      into.children.push_back(std::move(child));
    }
  }

  MarkerNode parse_or(int depth) {
    MarkerNode first = parse_and(depth);
    if (!keyword("or")) return first;
    MarkerNode n;
    n.kind = MarkerNode::Kind::any;
    append(n, std::move(first));
    do append(n, parse_and(depth));
    while (keyword("or"));
    return n;
  }

  MarkerNode parse_and(int depth) {
    MarkerNode first = parse_expr(depth);
    if (!keyword("and")) return first;
    MarkerNode n;
    n.kind = MarkerNode::Kind::all;
    append(n, std::move(first));
    do append(n, parse_expr(depth));
    while (keyword("and"));
    return n;
  }

  MarkerNode parse_expr(int depth) {
    skip();
    if (i_ < s_.size() && s_[i_] == '(') {
      if (depth > 200) fail("parentheses nested too deeply");
      ++i_;
      MarkerNode n = parse_or(depth + 1);
      skip();
      if (i_ >= s_.size() || s_[i_] != ')') fail("expected ')'");
      ++i_;
      return n;
    }
    MarkerNode n;
    n.kind = MarkerNode::Kind::cmp;
    parse_value(n.lhs_var, n.lhs);
    n.op = parse_op();
    parse_value(n.rhs_var, n.rhs);
    if ((n.lhs_var == Var::none) == (n.rhs_var == Var::none))
      fail(n.lhs_var == Var::none ? "a comparison needs a marker variable on one side"
                                  : "a comparison needs a quoted string on one side");
    Var var = n.lhs_var != Var::none ? n.lhs_var : n.rhs_var;
    std::string& literal = n.lhs_var != Var::none ? n.rhs : n.lhs;
    if (is_set_var(var)) literal = normalize_name(literal);
    if (n.lhs_var != Var::none && is_version_var(var) && n.op != CmpOp::in && n.op != CmpOp::not_in) {
      try {
        auto set = pep440::SpecifierSet::parse(std::string(op_name(n.op)) + literal);
        if (set.specs.size() == 1) n.spec = std::move(set.specs[0]);
      } catch (const Error&) {
        // Not a version: compared as a string (PEP 508 falls back to Python's operators).
      }
    }
    return n;
  }

  void parse_value(Var& var, std::string& literal) {
    skip();
    if (i_ >= s_.size()) fail("expected a marker variable or a quoted string");
    char q = s_[i_];
    if (q == '\'' || q == '"') {
      size_t end = s_.find(q, i_ + 1);
      if (end == std::string_view::npos) fail("unterminated string");
      literal.assign(s_.substr(i_ + 1, end - i_ - 1));
      var = Var::none;
      i_ = end + 1;
      return;
    }
    size_t start = i_;
    while (i_ < s_.size() && is_word(s_[i_])) ++i_;
    std::string_view word = s_.substr(start, i_ - start);
    for (auto& [text, v] : kVars) {
      if (text == word) {
        var = v;
        return;
      }
    }
    i_ = start;
    fail(word.empty() ? "expected a marker variable or a quoted string"
                      : "unknown marker variable '" + std::string(word) + "'");
  }

  CmpOp parse_op() {
    skip();
    for (auto& [t, o] : kOps) {
      if (s_.substr(i_, t.size()) == t) {
        i_ += t.size();
        return o;
      }
    }
    if (keyword("in")) return CmpOp::in;
    size_t save = i_;
    if (keyword("not")) {
      if (keyword("in")) return CmpOp::not_in;
      i_ = save;
    }
    fail("expected a comparison operator");
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool string_compare(const std::string& a, CmpOp op, const std::string& b) {
  switch (op) {
    case CmpOp::eq: return a == b;
    case CmpOp::ne: return a != b;
    case CmpOp::lt: return a < b;
    case CmpOp::le: return a <= b;
    case CmpOp::gt: return a > b;
    case CmpOp::ge: return a >= b;
    case CmpOp::arbitrary: return a == b;
    case CmpOp::in: return b.find(a) != std::string::npos;
    case CmpOp::not_in: return b.find(a) == std::string::npos;
    case CmpOp::compatible: return false;  // no string meaning
  }
  return false;
}

const std::string& lookup(const Environment& env, Var v) {
  static const std::string empty;
  auto it = env.find(std::string(var_name(v)));
  return it == env.end() ? empty : it->second;
}

// Three-valued result: extras may be unknown while searching in Marker::possible.
enum class Tri { no, yes, unknown };

// Extras assignment: a fixed set, or a partial assignment (name -> value) while searching.
struct ExtrasView {
  const ActiveExtras* fixed = nullptr;
  const std::map<std::string, bool>* partial = nullptr;
  Tri has(const std::string& name) const {
    if (fixed) return fixed->count(name) ? Tri::yes : Tri::no;
    auto it = partial->find(name);
    if (it == partial->end()) return Tri::unknown;
    return it->second ? Tri::yes : Tri::no;
  }
};

Tri eval_cmp(const MarkerNode& n, const Environment& env, const ExtrasView& extras) {
  Var var = n.lhs_var != Var::none ? n.lhs_var : n.rhs_var;
  if (is_set_var(var)) {
    const std::string& name = n.lhs_var != Var::none ? n.rhs : n.lhs;
    bool membership;
    if (var == Var::extra) membership = n.op == CmpOp::eq || n.op == CmpOp::in;
    else  // `'x' in extras`
      membership = n.op == CmpOp::in && n.rhs_var == var;
    bool negated =
        var == Var::extra ? (n.op == CmpOp::ne || n.op == CmpOp::not_in) : (n.op == CmpOp::not_in && n.rhs_var == var);
    if (!membership && !negated) return Tri::no;
    Tri t = extras.has(name);
    if (t == Tri::unknown || membership) return t;
    return t == Tri::yes ? Tri::no : Tri::yes;
  }
  if (n.lhs_var != Var::none) {
    const std::string& value = lookup(env, n.lhs_var);
    if (n.spec) {
      if (auto v = pep440::Version::try_parse(value)) return n.spec->contains(*v) ? Tri::yes : Tri::no;
    }
    return string_compare(value, n.op, n.rhs) ? Tri::yes : Tri::no;
  }
  // Quoted string on the left: `'3.8' < python_version` reads as specifier `<{python_version}`.
  const std::string& value = lookup(env, n.rhs_var);
  if (is_version_var(n.rhs_var) && n.op != CmpOp::in && n.op != CmpOp::not_in) {
    if (auto lhs = pep440::Version::try_parse(n.lhs)) {
      try {
        auto set = pep440::SpecifierSet::parse(std::string(op_name(n.op)) + value);
        if (set.specs.size() == 1) return set.specs[0].contains(*lhs) ? Tri::yes : Tri::no;
      } catch (const Error&) {}
    }
  }
  return string_compare(n.lhs, n.op, value) ? Tri::yes : Tri::no;
}

Tri eval(const MarkerNode& n, const Environment& env, const ExtrasView& extras) {
  switch (n.kind) {
    case MarkerNode::Kind::cmp: return eval_cmp(n, env, extras);
    case MarkerNode::Kind::all: {
      Tri r = Tri::yes;
      for (const auto& c : n.children) {
        Tri t = eval(c, env, extras);
        if (t == Tri::no) return Tri::no;
        if (t == Tri::unknown) r = Tri::unknown;
      }
      return r;
    }
    case MarkerNode::Kind::any: {
      Tri r = Tri::no;
      for (const auto& c : n.children) {
        Tri t = eval(c, env, extras);
        if (t == Tri::yes) return Tri::yes;
        if (t == Tri::unknown) r = Tri::unknown;
      }
      return r;
    }
  }
  return Tri::no;
}

void collect_extras(const MarkerNode& n, std::vector<std::string>& out) {
  if (n.kind != MarkerNode::Kind::cmp) {
    for (const auto& c : n.children) collect_extras(c, out);
    return;
  }
  Var var = n.lhs_var != Var::none ? n.lhs_var : n.rhs_var;
  if (!is_set_var(var)) return;
  const std::string& name = n.lhs_var != Var::none ? n.rhs : n.lhs;
  if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
}

// Backtracking search over the extras the marker mentions, pruned by three-valued evaluation.
// Real markers settle in a few steps; a pathological one that exhausts `budget` counts as
// possible, which only means it is decided later with the actual extras.
bool satisfiable(const MarkerNode& n, const Environment& env, const std::vector<std::string>& names, size_t next,
                 std::map<std::string, bool>& partial, size_t& budget) {
  if (budget == 0) return true;
  --budget;
  Tri t = eval(n, env, ExtrasView{nullptr, &partial});
  if (t != Tri::unknown) return t == Tri::yes;
  if (next >= names.size()) return false;  // all extras assigned always gives a definite answer
  for (bool value : {true, false}) {
    partial[names[next]] = value;
    bool ok = satisfiable(n, env, names, next + 1, partial, budget);
    partial.erase(names[next]);
    if (ok) return true;
  }
  return false;
}

std::string quote(const std::string& s) {
  char q = s.find('\'') == std::string::npos ? '\'' : '"';
  return q + s + q;
}

void print(const MarkerNode& n, std::string& out, bool nested) {
  if (n.kind == MarkerNode::Kind::cmp) {
    out += n.lhs_var != Var::none ? std::string(var_name(n.lhs_var)) : quote(n.lhs);
    out += ' ';
    out += op_name(n.op);
    out += ' ';
    out += n.rhs_var != Var::none ? std::string(var_name(n.rhs_var)) : quote(n.rhs);
    return;
  }
  bool parens = nested && n.kind == MarkerNode::Kind::any;
  if (parens) out += '(';
  const char* sep = n.kind == MarkerNode::Kind::all ? " and " : " or ";
  for (size_t i = 0; i < n.children.size(); ++i) {
    if (i) out += sep;
    print(n.children[i], out, n.kind == MarkerNode::Kind::all);
  }
  if (parens) out += ')';
}

}  // namespace

std::string normalize_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  bool pending = false;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      pending = true;
      continue;
    }
    if (pending) out += '-';
    pending = false;
    out += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  }
  if (pending) out += '-';
  return out;
}

Marker::Marker() = default;

Marker Marker::parse(std::string_view text) {
  Marker m;
  bool blank = std::all_of(text.begin(), text.end(), is_space);
  if (!blank) m.root_ = std::make_shared<const MarkerNode>(Parser(text).parse_all());
  return m;
}

bool Marker::evaluate(const Environment& env, const ActiveExtras& extras) const {
  if (!root_) return true;
  return eval(*root_, env, ExtrasView{&extras, nullptr}) == Tri::yes;
}

bool Marker::is_true() const {
  return !root_;
}

std::string Marker::str() const {
  std::string out;
  if (root_) print(*root_, out, false);
  return out;
}

bool Marker::possible(const Environment& env) const {
  if (!root_) return true;
  std::vector<std::string> names;
  collect_extras(*root_, names);
  std::map<std::string, bool> partial;
  size_t budget = 1 << 14;
  return satisfiable(*root_, env, names, 0, partial, budget);
}

}  // namespace pb::pep508
