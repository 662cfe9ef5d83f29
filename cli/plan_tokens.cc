// `lmlab plan tokens`: token economics. A budget and prices per million tokens
// give tokens, and per person per year for a population; a self-hosted price
// follows from an inference plan. See docs/plan.md.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/plan_flags.h"
#include "lmlab/core/parse.h"
#include "lmlab/plan/render.h"

namespace lmlab::cli::plan_tokens_cmd {
namespace {

using namespace lmlab::plan;

struct Options {
  std::optional<double> budget;
  std::vector<std::string> prices;
  std::optional<double> population;
  double years = 1;
  ModelShapeFlags model;
  HardwareFlags hardware;
  std::string weights = "bf16";
  int64_t prompt_tokens = 1024, output_tokens = 256;
  std::optional<int64_t> batch;
  bool json = false;
};

// The seed's figures: a billion dollars at GPT-3.5's price, for five billion
// people; the seed's GPT-4 figure is ten times fewer tokens, i.e. ten times the price.
constexpr double kSeedBudget = 1e9;
constexpr double kSeedPopulation = 5e9;
const std::vector<TokenPrice> kSeedPrices = {
    {"GPT-3.5-turbo", 2.0, "OpenAI, March 2023: $0.002 per 1K tokens"},
    {"GPT-4 as the seed counts it (10x)", 20.0,
     "the seed's 10,000 GPT-4 tokens per person; OpenAI's GPT-4 8K list price (March 2023) was $30/M prompt, $60/M "
     "completion"}};

// "2", "GPT-4o=5" or "GPT-4o=$5".
TokenPrice ParsePrice(const std::string& item) {
  std::string label, number = item;
  if (size_t eq = item.find('='); eq != std::string::npos) {
    label = item.substr(0, eq);
    number = item.substr(eq + 1);
  }
  if (!number.empty() && number[0] == '$') number.erase(0, 1);
  Result<double> v = ParseDouble(number, "price");
  if (!v) throw UsageError("--price-per-million: '" + item + "' is not a price (examples: 2, GPT-4o=5)");
  if (label.empty()) label = "$" + number + " per million";
  return {label, *v, "--price-per-million"};
}

int Run(const Options& o) {
  DeviceCatalog catalog = OrExit(DeviceCatalog::LoadDefault());
  std::optional<ModelShape> shape = ModelShapeOrExit(o.model);
  const bool seed = !o.budget && o.prices.empty() && !o.population && !shape;
  TokenRequest r;
  r.budget_usd = o.budget.value_or(kSeedBudget);
  r.population = seed ? std::optional<double>(kSeedPopulation) : o.population;
  r.years = o.years;
  if (seed) r.prices = kSeedPrices;
  for (const std::string& p : o.prices) r.prices.push_back(ParsePrice(p));
  if (shape) {
    SelfHostedPrice self;
    self.inference.model = *shape;
    self.inference.hardware = ToHardwareRequest(o.hardware, "h100-sxm");
    self.inference.weight_type = o.weights;
    self.inference.prompt_tokens = o.prompt_tokens;
    self.inference.output_tokens = o.output_tokens;
    self.batch = o.batch;
    r.self_hosted = self;
  } else if (o.batch) {
    throw UsageError("--batch prices a self-hosted model: add --preset or --model-config");
  }
  TokenEconomics t = OrExit(MakeTokenEconomics(r, catalog));
  if (o.json) {
    nlohmann::json j = ToJson(t);
    j["seed_scenario"] = seed;
    PrintJson(j);
    return 0;
  }
  if (seed)
    std::cout << "The seed's token figures: $1B at GPT-3.5's $2 per million tokens is 5e14 tokens, about\n"
                 "1e5 per person per year for 5e9 people, or 1e4 GPT-4 tokens.\n\n";
  std::cout << RenderTokensText(t);
  return 0;
}

}  // namespace

void Register(CLI::App& plan) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = AddCommand(
      plan, "tokens", "Token economics: tokens a budget buys, per person per year, and self-hosted cost per token",
      "  lmlab plan tokens                              # the seed: $1B at $2/M tokens, 5e9 people\n"
      "  lmlab plan tokens --budget 1B --price-per-million GPT-3.5=2,GPT-4=30 --population 8e9\n"
      "  lmlab plan tokens --budget 10M --preset llama-3-70b --device h100 --weights fp8 --population 1e6\n");
  auto& s = *sub;
  s.option_defaults()->group("Economics");
  AddQuantity(sub, "--budget", o->budget, "Money to spend on tokens, in USD (1B, 10M)");
  s.add_option("--price-per-million", o->prices, "Prices in USD per million tokens, optionally labelled: 2,GPT-4o=5")
      ->delimiter(',');
  AddQuantity(sub, "--population", o->population, "People sharing the tokens (5e9)");
  s.add_option("--years", o->years, "Years the tokens last")->capture_default_str();
  AddModelShapeFlags(sub, o->model);
  AddHardwareFlags(sub, o->hardware, "Share of the peak FLOP/s reached, in (0,1]; default 1 (a bound)");
  s.option_defaults()->group("Self-hosted price");
  s.add_option("--weights", o->weights, "Weight type of the self-hosted model (bf16, fp8, q4_K, ...)")->capture_default_str();
  s.add_option("--prompt-tokens", o->prompt_tokens, "Prompt length per request")->capture_default_str();
  s.add_option("--output-tokens", o->output_tokens, "Tokens generated per request")->capture_default_str();
  s.add_option("--batch", o->batch, "Decode batch for the self-hosted price (default: the largest that fits)");
  s.option_defaults()->group("Output");
  s.add_flag("--json", o->json, "Print JSON instead of tables");
  SetRun(sub, [o] { return Run(*o); });
}

}  // namespace lmlab::cli::plan_tokens_cmd
