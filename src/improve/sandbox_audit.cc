// Runs data/improve/sandbox_audit.py in the sandbox on one candidate and
// reads its findings. See sandbox_audit.h.
#include "lmlab/improve/sandbox_audit.h"

#include <fmt/format.h>

#include "lmlab/core/embedded.h"
#include "lmlab/core/json.h"

namespace lmlab::improve {

using nlohmann::json;

std::string SandboxUse::Summary() const {
  std::string s;
  for (const SandboxFinding& f : findings)
    s += fmt::format("{}line {} `{}`: {}", s.empty() ? "" : "; ", f.line, f.code, f.why);
  return s;
}

Result<SandboxUse> AnalyseSandboxUse(sandbox::Sandbox& box, const std::string& code) {
  LMLAB_ASSIGN_OR_RETURN(std::string_view analyser, embedded::Find("data/improve/sandbox_audit.py"));
  sandbox::Request req{.argv = {"/usr/bin/python3", "/box/sandbox_audit.py"},
                       .files = {{"sandbox_audit.py", std::string(analyser)}}};
  req.stdin_data = DumpJson(json{{"code", code}});
  req.limits.wall_seconds = 20;
  req.limits.cpu_seconds = 20;
  req.limits.memory_bytes = 1LL << 30;
  req.limits.output_bytes = 1 << 20;
  LMLAB_ASSIGN_OR_RETURN(sandbox::RunResult run, box.Run(req));
  // The analyser is ours, but it reads hostile code: its output is checked.
  json out = json::parse(run.stdout_data, nullptr, /*allow_exceptions=*/false);
  if (run.verdict != sandbox::Verdict::kOk || !out.is_object() || !out.contains("findings") ||
      !out["findings"].is_array())
    return Internal(fmt::format("the sandbox-use analyser failed ({}: {}) {}", sandbox::VerdictName(run.verdict),
                                run.detail, run.stderr_data.substr(0, 300)));
  SandboxUse use;
  use.parsed = out.value("parsed", false);
  for (const json& f : out["findings"]) {
    if (!f.is_object()) continue;
    use.findings.push_back({.line = f.value("line", 0),
                            .kind = f.value("kind", std::string()),
                            .code = f.value("code", std::string()),
                            .why = f.value("why", std::string())});
  }
  return use;
}

}  // namespace lmlab::improve
