// `lmlab plan tokens`: token economics. A budget and a price per million
// tokens give tokens; tokens and a population give tokens per person per
// year; a self-hosted price follows from an inference plan.
//
// Reference check (the seed's figures): $1B at GPT-3.5's $2 per million
// tokens buys 5e14 tokens, 1e5 per person per year for 5e9 people; at ten
// times the price (the seed's GPT-4), 1e4.
//
//   TokenRequest r{.budget_usd = 1e9, .prices = {{"GPT-3.5", 2.0, ""}}, .population = 5e9};
//   LMLAB_ASSIGN_OR_RETURN(TokenEconomics t, MakeTokenEconomics(r, catalog));
//   t.rows[0].tokens;                      // 5e14
//   *t.rows[0].tokens_per_person_per_year; // 1e5
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/plan/device_catalog.h"
#include "lmlab/plan/inference.h"

namespace lmlab::plan {

struct TokenPrice {
  std::string label;        // "GPT-3.5-turbo"
  double usd_per_million = 0;
  std::string source;       // where the price comes from
};

// A price computed from serving a model yourself.
struct SelfHostedPrice {
  InferenceRequest inference;
  std::optional<int64_t> batch;  // decode batch; default: the largest that fits (cheapest per token)
};

struct TokenRequest {
  double budget_usd = 0;
  std::vector<TokenPrice> prices;
  std::optional<double> population;
  double years = 1;
  std::optional<SelfHostedPrice> self_hosted;
};

struct TokenRow {
  TokenPrice price;
  double tokens = 0;  // budget / price x 1e6
  std::optional<double> tokens_per_person_per_year;
};

struct TokenEconomics {
  double budget_usd = 0;
  std::optional<double> population;
  double years = 1;
  std::vector<TokenRow> rows;
  std::optional<InferencePlan> self_hosted;  // the plan behind the self-hosted row
  std::optional<DecodePoint> self_hosted_point;
};

Result<TokenEconomics> MakeTokenEconomics(const TokenRequest& request, const DeviceCatalog& catalog);

}  // namespace lmlab::plan
