// The STOP RPC line handler (improve/host_rpc.h): whatever a model-written
// improver writes to fd 3, a line at a time, as the sandbox hands it over.
// Fake services stand in for the model (replies with invalid UTF-8) and the
// utility (sometimes failing, sometimes out of range).
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/improve/host_rpc.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  using namespace lmlab::improve;
  const ImproverBudgets budgets{.samples_per_call = 2, .lm_calls = 2, .utility_calls = 3};
  RpcSession s{.budgets = budgets};
  int model_calls = 0, utility_calls = 0;
  RpcServices services{
      .model =
          [&](const ModelCall& call) {
            ++model_calls;
            fuzz::Check(int(call.messages.size()) <= budgets.samples_per_call, "messages capped by the host");
            fuzz::Check(call.temperature >= 0 && call.temperature <= 2, "temperature in [0, 2]");
            std::vector<Result<runtime::Completion>> out;
            for (size_t i = 0; i < call.messages.size(); ++i) {
              if (call.messages[i].size() % 3 == 2) out.push_back(Unavailable("the endpoint is down"));
              else out.push_back(runtime::Completion{.text = "half a character \xe2\x82 " + call.messages[i]});
            }
            return out;
          },
      .utility =
          [&](const std::string& solution) -> Result<double> {
            ++utility_calls;
            if (solution.size() % 3 == 1) return Internal("the sandbox could not start");
            return solution.size() % 3 == 2 ? 7.5 : 0.25;
          }};
  std::string_view text = fuzz::Text(data, size);
  for (int lines = 0; lines < 16 && !text.empty(); ++lines) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::string reply = HandleRpcLine(line, s, services);
    fuzz::Check(reply.find('\n') == std::string::npos, "a reply is one line");
    nlohmann::json j = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
    fuzz::Check(j.is_object() && j.size() == 1, "a reply is a JSON object with one key");
    fuzz::Check(j.contains("result") || (j.contains("error") && j["error"].is_string()),
                "a reply is a result or an error message");
    if (j.contains("result") && j["result"].is_number())
      fuzz::Check(j["result"].get<double>() >= 0 && j["result"].get<double>() <= 1, "a utility in [0, 1]");
  }
  fuzz::Check(s.lm_calls_used <= budgets.lm_calls && model_calls == s.lm_calls_used, "the model budget holds");
  fuzz::Check(s.utility_calls_used <= budgets.utility_calls && utility_calls == s.utility_calls_used,
              "the utility budget holds");
  fuzz::Check(s.counts.model_calls == model_calls, "every model call counted");
  fuzz::Check(s.counts.utility_errors <= utility_calls, "utility errors are utility calls");
  return 0;
}
