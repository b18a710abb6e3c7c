"""A small stand-in for what oned does with a marketplace monitor's answer, for tests.

It mirrors these parts of OpenNebula's source (OpenNebula/one), written again from them:

* src/market/MarketPlaceManagerProtocol.cc, MarketPlaceManager::_monitor: a failed monitor
  changes nothing; each APP goes through MarketPlaceAppPool::import; an app that import
  allocated is added to the marketplace; every imported or found app id has its missing count
  reset and is taken off the marketplace's list of apps not seen; when the answer has at least
  one APP, each app of the marketplace not seen is counted missing (test_map_check) and dropped
  after MAX_MISSING_MONITORS consecutive misses; an answer without APP lines changes nothing.
* src/market/MarketPlaceAppPool.cc, MarketPlaceAppPool::import: a NAME that
  PoolObjectSQL::name_is_valid refuses becomes "imported-<ORIGIN_ID>"; the app is looked up by
  NAME across the whole pool (get(app.name, 0)); when found, the existing app (whatever its
  marketplace) is rewritten from the new template only if its VERSION, MD5 or SOURCE differ,
  and stays in its own marketplace; otherwise a new app is allocated in this marketplace.
* MarketPlaceAppPool::test_map_check / reset_map_check, MAX_MISSING_MONITORS = 3.
"""
import one_template

MAX_MISSING_MONITORS = 3


class Pool:
    def __init__(self):
        self.apps = {}        # app id -> {"name", "market", "tmpl", "writes"}
        self.markets = {}     # market id -> set of app ids (MarketPlace's MARKETPLACEAPPS)
        self.map_check = {}   # app id -> consecutive missing monitors (-1 after a reset)
        self.next_id = 0
        self.errors = []

    def _get_by_name(self, name):
        for app_id, app in self.apps.items():
            if app["name"] == name:
                return app_id
        return None

    def _import(self, tmpl, market_id):
        name = tmpl.get("NAME", "")
        if not one_template.name_is_valid(name):
            name = "imported-%s" % tmpl.get("ORIGIN_ID", "-1")
        found = self._get_by_name(name)
        if found is not None:
            old = self.apps[found]["tmpl"]
            if any(old.get(k) != tmpl.get(k) for k in ("VERSION", "MD5", "SOURCE")):
                self.apps[found]["tmpl"] = tmpl
                self.apps[found]["writes"] += 1
            return -2, found
        app_id = self.next_id
        self.next_id += 1
        self.apps[app_id] = {"name": name, "market": market_id, "tmpl": tmpl, "writes": 1}
        return app_id, app_id

    def _test_map_check(self, app_id):
        if app_id not in self.map_check:
            self.map_check[app_id] = 1
            return False
        self.map_check[app_id] += 1
        if self.map_check[app_id] >= MAX_MISSING_MONITORS:
            del self.map_check[app_id]
            return True
        return False

    def monitor(self, market_id, rc, stdout):
        """One monitor run's result (exit status, stdout) for marketplace market_id."""
        self.markets.setdefault(market_id, set())
        if rc != 0:
            return
        apps = one_template.decode_apps(stdout)
        not_seen = set(self.markets[market_id])
        for tmpl in apps:
            rc_import, app_id = self._import(tmpl, market_id)
            if rc_import >= 0:
                self.markets[market_id].add(rc_import)
            self.map_check[app_id] = -1
            not_seen.discard(app_id)
        if apps:
            for app_id in sorted(not_seen):
                if self._test_map_check(app_id):
                    self.apps.pop(app_id, None)
                    self.markets[market_id].discard(app_id)

    def models(self, market_id):
        """MODEL_IDs of the apps the marketplace holds."""
        return sorted(self.apps[i]["tmpl"]["MODEL_ID"] for i in self.markets.get(market_id, ()) if i in self.apps)

    def writes(self, market_id):
        return {self.apps[i]["name"]: self.apps[i]["writes"] for i in self.markets.get(market_id, ())
                if i in self.apps}
