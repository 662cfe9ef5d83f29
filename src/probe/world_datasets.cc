// The probe datasets of lmlab's world-model recipe (train/world_model.h):
// exactly the entities its corpus relates, with the recipe's held-out split.
#include <fmt/format.h>

#include <cmath>

#include "lmlab/probe/dataset.h"
#include "lmlab/train/world_model.h"

namespace lmlab::probe {
namespace {

std::string Century(int64_t year) {
  const int64_t c = static_cast<int64_t>(std::floor(static_cast<double>(year) / 100));
  return c < 0 ? fmt::format("{} BCE", -c * 100) : fmt::format("{}s", c * 100);
}

}  // namespace

Result<EntityDataset> BuildWorldModelPlaces(const BuiltinOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(train::WorldEntities e, train::LoadWorldEntities(train::WorldModelRecipe()));
  EntityDataset ds;
  ds.name = "world-model-places";
  ds.kind = TargetKind::kPlace;
  ds.entity_kind = EntityKind::kPlace;
  ds.target_names = {"latitude", "longitude"};
  ds.target_note = "the cities of lmlab's world-model corpus, by name alone; the corpus never states a coordinate";
  ds.group_names = {"country", "continent"};
  ds.groups.resize(2);
  for (const train::WorldPlace& p : e.places) {
    if (o.limit > 0 && ds.size() >= o.limit) break;
    ds.entities.push_back(p.name);
    ds.targets.push_back(p.latitude);
    ds.targets.push_back(p.longitude);
    ds.groups[0].push_back(p.country);
    ds.groups[1].push_back(p.continent);
    ds.is_test.push_back(p.is_test);
  }
  return ds;
}

Result<EntityDataset> BuildWorldModelPeople(const BuiltinOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(train::WorldEntities e, train::LoadWorldEntities(train::WorldModelRecipe()));
  EntityDataset ds;
  ds.name = "world-model-people";
  ds.kind = TargetKind::kTime;
  ds.entity_kind = EntityKind::kPerson;
  ds.target_names = {"birth_year"};
  ds.target_note = "birth year of the people of lmlab's world-model corpus, which never states a year";
  ds.group_names = {"occupation", "century"};
  ds.groups.resize(2);
  for (const train::WorldPerson& p : e.people) {
    if (o.limit > 0 && ds.size() >= o.limit) break;
    ds.entities.push_back(p.name);
    ds.targets.push_back(static_cast<double>(p.birth_year));
    ds.groups[0].push_back(p.occupation);
    ds.groups[1].push_back(Century(p.birth_year));
    ds.is_test.push_back(p.is_test);
  }
  return ds;
}

}  // namespace lmlab::probe
