#include "lmlab/plan/tokens.h"

#include <fmt/format.h>

#include <cmath>

namespace lmlab::plan {

Result<TokenEconomics> MakeTokenEconomics(const TokenRequest& r, const DeviceCatalog& catalog) {
  auto positive = [](double v) { return std::isfinite(v) && v > 0; };
  if (!positive(r.budget_usd)) return InvalidArgument(fmt::format("`budget` must be a positive number (got {})", r.budget_usd));
  if (r.population && !positive(*r.population))
    return InvalidArgument(fmt::format("`population` must be a positive number (got {})", *r.population));
  if (!positive(r.years)) return InvalidArgument(fmt::format("`years` must be a positive number (got {})", r.years));
  TokenEconomics t;
  t.budget_usd = r.budget_usd;
  t.population = r.population;
  t.years = r.years;
  std::vector<TokenPrice> prices = r.prices;
  if (r.self_hosted) {
    LMLAB_ASSIGN_OR_RETURN(InferencePlan plan, MakeInferencePlan(r.self_hosted->inference, catalog));
    if (plan.rate.price_per_hour <= 0)
      return InvalidArgument("the self-hosted price needs a device price: name a catalog device or give `price_per_hour`");
    if (plan.cheapest.batch < 1) return InvalidArgument("the model does not fit the devices of one replica");
    DecodePoint d = plan.cheapest;
    if (r.self_hosted->batch) {
      const int64_t batch = *r.self_hosted->batch;
      if (batch < 1) return InvalidArgument(fmt::format("`batch` must be at least 1 (got {})", batch));
      InferenceRequest one = r.self_hosted->inference;
      one.batches = {batch};
      one.users.reset();
      LMLAB_ASSIGN_OR_RETURN(plan, MakeInferencePlan(one, catalog));
      d = plan.table.front();
      if (!d.fits)
        return InvalidArgument(fmt::format("a batch of {} does not fit {} device(s) (at most {})", batch, d.devices,
                                           plan.max_batch));
    }
    prices.push_back({fmt::format("{} on {} x {}, batch {} (decode bound)", plan.model.name, d.devices, plan.rate.name,
                                  d.batch),
                      *d.usd_per_million,
                      r.self_hosted->batch ? "lmlab plan infer at --batch: device-hours / output tokens at the roofline bound"
                                           : "lmlab plan infer: the replica size and batch with the most tokens per "
                                             "device-hour, at the roofline bound"});
    t.self_hosted = std::move(plan);
    t.self_hosted_point = d;
  }
  if (prices.empty()) return InvalidArgument("give at least one price per million tokens (`price_per_million`)");
  for (const TokenPrice& p : prices) {
    if (!positive(p.usd_per_million))
      return InvalidArgument(fmt::format("`price_per_million` must be positive (got {} for {})", p.usd_per_million, p.label));
    TokenRow row{.price = p, .tokens = r.budget_usd / p.usd_per_million * 1e6};
    if (r.population) row.tokens_per_person_per_year = row.tokens / *r.population / r.years;
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace lmlab::plan
