#!/usr/bin/env python3
# Regenerates tests/invalid/: edit the cases below, then run `python3 tests/make_invalid.py`.
# Writes tests/invalid/*.toml: each case states its message, hint and the token the caret must
# be on (`at`, nth occurrence in the body); the header's LINE:COL is computed from that token.
import os, sys
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "invalid")
BASE = '''[system]
name = "demo"

[[services]]
name = "orders"
  [[services.entities]]
  name = "Order"
  [services.entities.fields]
  total = "decimal"
'''
TWO = '''[system]
name = "demo"

[[services]]
name = "orders"
{orders}
  [[services.entities]]
  name = "Order"
  expose = {{ path = "/orders" }}
  [services.entities.fields]
  customer-id = "uuid"
  total = "decimal"

[[services]]
name = "products"
{products}
  [[services.entities]]
  name = "Product"
  [services.entities.fields]
  name = "string"
'''
def two(orders="", products=""): return TWO.format(orders=orders, products=products)
EVENTS = '''[system]
name = "demo"

[[events]]
name = "OrderCreated"
[events.fields]
order-id = "uuid"
customer-id = "uuid"

[[events]]
name = "CreditReserved"
[events.fields]
order-id = "uuid"
{extra_events}
[[services]]
name = "orders"
publishes = [{orders_pub}]
consumes = [{orders_con}]
  [[services.entities]]
  name = "Order"
  [services.entities.fields]
  total = "decimal"

[[services]]
name = "customers"
publishes = [{cust_pub}]
consumes = [{cust_con}]
  [[services.entities]]
  name = "Customer"
  [services.entities.fields]
  name = "string"
{sagas}'''
SAGA = '''
[[sagas]]
name = "place-order"
owner = "{owner}"
  [[sagas.steps]]
  service = "customers"
  action = "reserve-credit"
  {step}
'''
def ev(orders_pub='"OrderCreated"', orders_con='"CreditReserved"', cust_pub='"CreditReserved"', cust_con='"OrderCreated"', extra_events="", sagas=""):
    return EVENTS.format(orders_pub=orders_pub, orders_con=orders_con, cust_pub=cust_pub, cust_con=cust_con, extra_events=extra_events, sagas=sagas)
def saga(owner="orders", step='on-success = "CreditReserved"'): return SAGA.format(owner=owner, step=step)
AUTH = '[auth]\nroles = ["customer", "admin"]\n\n'
BFF = two() + '''
[[bffs]]
name = "web"
port = 8090
{body}'''
def bff(body): return AUTH + BFF.replace("{body}", body)
def expose(path): return two().replace('path = "/orders"', f'path = "{path}"')
COMP = '''  [[bffs.compositions]]
  path = "{path}"
  calls = [{calls}]
'''
ORDER_CALL = '{ service = "orders", path = "/orders/{id}" }'
def comp(path, calls=ORDER_CALL): return bff(COMP.format(path=path, calls=calls))
HANDLER_HINT = "a composition's handler is named after the first segment of its path that is not a parameter; start the path with a word such as `/order-details`"
PARAM_HINT = "rename the parameter, for example `{order-id}`"
KEYWORD_HINT = "choose another name; names of two words (`place-order`) are never keywords"
HISTORY = '''
[[services]]
name = "history"
style = "read-model"
consumes = [{consumes}]
  [[services.views]]
  name = "{name}"
  key = "{key}"
  from = [{frm}]
  [services.views.fields]
  {key_field} = "uuid"
'''
def history(name="OrderSummary", key="order-id", consumes='"OrderCreated"', frm='"OrderCreated"', key_field="order-id"):
    return HISTORY.format(name=name, key=key, consumes=consumes, frm=frm, key_field=key_field)
VIEW_SOURCE_WITHOUT_KEY = ev(sagas=history(key="customer-id", consumes='"OrderCreated", "CreditReserved"', frm='"OrderCreated", "CreditReserved"', key_field="customer-id"))

cases = [
 ("toml-syntax", '[system]\nname = "demo\n', 'invalid TOML: invalid basic string, expected `"`', None, ("\n", 1)),
 ("missing-system-section", BASE.replace('[system]\nname = "demo"\n\n', ''), "missing required section [system]", None, None),
 ("missing-system-name", BASE.replace('name = "demo"', 'version = "0.1.0"'), "missing required key `name` in [system]", None, ("[system]", 0)),
 ("system-name-not-kebab", BASE.replace('"demo"', '"Demo_Shop"'), "system name `Demo_Shop` must be kebab-case", "write `demo-shop`", ('"Demo_Shop"', 0)),
 ("bad-version", BASE.replace('name = "demo"', 'name = "demo"\nversion = "1.0"'), "`1.0` is not a version", 'write MAJOR.MINOR.PATCH, for example "0.1.0"', ('"1.0"', 0)),
 ("unknown-section", BASE + '\n[gatway]\nport = 8080\n', "unknown key `gatway` in the blueprint", "did you mean `gateway`?", ("gatway", 0)),
 ("unknown-key-platform", BASE + '\n[platform]\nbrokr = "nats"\n', "unknown key `brokr` in [platform]", "did you mean `broker`?", ("brokr", 0)),
 ("unknown-key-auth", BASE + '\n[auth]\nrole = ["admin"]\n', "unknown key `role` in [auth]", "did you mean `roles`?", ("role", 0)),
 ("unknown-key-gateway", BASE + '\n[gateway]\nprot = 8080\n', "unknown key `prot` in [gateway]", "did you mean `port`?", ("prot", 0)),
 ("unknown-key-service", BASE.replace('name = "orders"', 'name = "orders"\nreplica = 2'), "unknown key `replica` in [[services]] `orders`", "did you mean `replicas`?", ("replica", 0)),
 ("unknown-key-entity", BASE.replace('  name = "Order"', '  name = "Order"\n  exposed = { path = "/orders" }'), "unknown key `exposed` in entity `Order`", "did you mean `expose`?", ("exposed", 0)),
 ("unknown-key-expose", AUTH + BASE.replace('  name = "Order"', '  name = "Order"\n  expose = { path = "/orders", reed = ["admin"] }'), "unknown key `reed` in `expose` of entity `Order`", "did you mean `read`?", ("reed", 0)),
 ("unknown-key-call", two(orders='  [[services.calls]]\n  service = "products"\n  retry = 2'), "unknown key `retry` in calls[0] of [[services]] `orders`", "did you mean `retries`?", ("retry", 0)),
 ("unknown-key-breaker", two(orders='  [[services.calls]]\n  service = "products"\n  breaker = { failure-rate = 0.5, windw = 20 }'), "unknown key `windw` in `breaker` of calls[0] of [[services]] `orders`", "did you mean `window`?", ("windw", 0)),
 ("unknown-key-saga-step", ev(sagas=saga(step='on-success = "CreditReserved"\n  compensate = "release-credit"')), "unknown key `compensate` in steps[0] of [[sagas]] `place-order`", "did you mean `compensation`?", ("compensate", 0)),
 ("unknown-key-bff", bff('route = ["/orders"]\n'), "unknown key `route` in [[bffs]] `web`", "did you mean `routes`?", ("route", 0)),
 ("unknown-key-composition-call", bff('  [[bffs.compositions]]\n  path = "/details/{id}"\n  calls = [{ service = "orders", path = "/orders/{id}", optinal = true }]\n'), "unknown key `optinal` in calls[0] of compositions[0] of [[bffs]] `web`", "did you mean `optional`?", ("optinal", 0)),
 ("wrong-type-port", BASE.replace('name = "orders"', 'name = "orders"\nport = "8101"'), "`port` in [[services]] `orders` must be an integer, found a string", None, ('"8101"', 0)),
 ("wrong-type-replicas", BASE.replace('name = "orders"', 'name = "orders"\nreplicas = 1.5'), "`replicas` in [[services]] `orders` must be an integer, found a float", None, ("1.5", 0)),
 ("wrong-type-publishes", BASE.replace('name = "orders"', 'name = "orders"\npublishes = "OrderCreated"'), "`publishes` in [[services]] `orders` must be an array of strings, found a string", None, ('"OrderCreated"', 0)),
 ("bad-broker", BASE + '\n[platform]\nbroker = "kafak"\n', "`kafak` is not a valid `broker` in [platform]", "did you mean `kafka`?", ('"kafak"', 0)),
 ("bad-style", BASE.replace('name = "orders"', 'name = "orders"\nstyle = "crudd"'), "`crudd` is not a valid `style` in [[services]] `orders`", "did you mean `crud`?", ('"crudd"', 0)),
 ("bad-store", BASE.replace('name = "orders"', 'name = "orders"\nstore = "mysql"'), "`mysql` is not a valid `store` in [[services]] `orders`", "expected one of: `postgres`, `none`", ('"mysql"', 0)),
 ("bad-fallback", two(orders='  [[services.calls]]\n  service = "products"\n  fallback = "cache"'), "`cache` is not a valid `fallback` in calls[0] of [[services]] `orders`", "did you mean `cached`?", ('"cache"', 0)),
 ("bad-saga-style", ev(sagas=saga().replace('owner = "orders"', 'style = "choreo"\nowner = "orders"')), "`choreo` is not a valid `style` in [[sagas]] `place-order`", "did you mean `choreography`?", ('"choreo"', 0)),
 ("bad-deploy-target", BASE + '\n[platform]\ndeploy = ["compose", "helm"]\n', "`helm` is not a deploy target", "expected one of: `compose`, `kubernetes`", ('"helm"', 0)),
 ("bad-sessions", BASE + '\n[auth]\nsessions = "cookie"\n', "`cookie` is not a valid `sessions` in [auth]", "expected one of: `jwt`, `redis`", ('"cookie"', 0)),
 ("bad-duration-words", BASE + '\n[auth]\naccess-token-ttl = "15 minutes"\n', "`15 minutes` is not a duration (`access-token-ttl` in [auth])", "write a whole number and a unit: 500ms, 30s, 15m, 2h or 7d", ('"15 minutes"', 0)),
 ("bad-duration-fraction", BASE + '\n[gateway]\ntimeout = "1.5s"\n', "`1.5s` is not a duration (`timeout` in [gateway])", "write a whole number and a unit: 500ms, 30s, 15m, 2h or 7d", ('"1.5s"', 0)),
 ("port-out-of-range", BASE.replace('name = "orders"', 'name = "orders"\nport = 70000'), "`port` in [[services]] `orders` must be between 1 and 65535, found 70000", None, ("70000", 0)),
 ("field-type-typo", BASE.replace('total = "decimal"', 'total = "strng"'), "field `total`: unknown field type `strng`", "did you mean `string`?", ('"strng"', 0)),
 ("field-type-nested-list", BASE.replace('total = "decimal"', 'total = "list<list<i32>>"'), "field `total`: lists of lists are not supported", "use `json` for nested data", ('"list<list<i32>>"', 0)),
 ("field-type-optional-element", BASE.replace('total = "decimal"', 'total = "list<i32?>"'), "field `total`: list elements cannot be optional (`i32?`)", "make the list itself optional: `list<T>?`", ('"list<i32?>"', 0)),
 ("field-type-empty-enum", BASE.replace('total = "decimal"', 'state = "enum()"'), "field `state`: an enum variant is empty", "write `enum(a, b, c)`", ('"enum()"', 0)),
 ("field-type-duplicate-variant", BASE.replace('total = "decimal"', 'state = "enum(open, open)"'), "field `state`: enum variant `open` is listed twice", None, ('"enum(open, open)"', 0)),
 ("field-type-variant-case", BASE.replace('total = "decimal"', 'state = "enum(Open, closed)"'), "field `state`: enum variant `Open` is not a lowercase kebab-case word", "write `open`", ('"enum(Open, closed)"', 0)),
 ("field-name-not-kebab", BASE.replace('total = "decimal"', 'unit_price = "decimal"'), "field name `unit_price` of entity `Order` must be kebab-case", "write `unit-price`", ("unit_price", 0)),
 ("builtin-field", BASE.replace('total = "decimal"', 'total = "decimal"\n  version = "i64"'), "field `version` of entity `Order` is built in", "every entity already has `id`, `created-at`, `updated-at` and `version`; remove it", ("version", 0)),
 ("duplicate-service", BASE + BASE.split('\n', 3)[3].replace('"Order"', '"Item"'), "duplicate service or bff name `orders`", None, ('"orders"', 1)),
 ("duplicate-event", BASE.replace('[[services]]', '[[events]]\nname = "Paid"\n\n[[events]]\nname = "Paid"\n\n[[services]]').replace('name = "orders"', 'name = "orders"\npublishes = ["Paid"]'), "duplicate event name `Paid`", None, ('"Paid"', 1)),
 ("reserved-service-name", BASE.replace('"orders"', '"gateway"'), "service name `gateway` is reserved for a generated platform crate", None, ('"gateway"', 0)),
 ("entity-not-pascal", BASE.replace('"Order"', '"order_line"'), "entity name `order_line` must be PascalCase", "write `OrderLine`", ('"order_line"', 0)),
 ("event-not-pascal", BASE.replace('[[services]]', '[[events]]\nname = "order-paid"\n\n[[services]]').replace('name = "orders"', 'name = "orders"\npublishes = ["order-paid"]'), "event name `order-paid` must be PascalCase", "write `OrderPaid`", ('"order-paid"', 0)),
 ("unknown-event-consumed", ev(cust_con='"OrderCreatd"'), "unknown event `OrderCreatd` in `consumes` of service `customers`", "did you mean `OrderCreated`?", ('"OrderCreatd"', 0)),
 ("consumed-never-published", ev(extra_events='\n[[events]]\nname = "OrderShipped"\n', cust_con='"OrderCreated", "OrderShipped"'), "service `customers` consumes `OrderShipped`, which no service publishes", None, ('"OrderShipped"', 1)),
 ("published-twice", ev(cust_pub='"CreditReserved", "OrderCreated"'), "event `OrderCreated` is published by 2 services (`orders`, `customers`); each event has exactly one publisher", None, ('"OrderCreated"', 0)),
 ("event-without-publisher", ev(extra_events='\n[[events]]\nname = "Orphan"\n'), "event `Orphan` is published by no service", None, ('"Orphan"', 0)),
 ("unknown-called-service", two(orders='  [[services.calls]]\n  service = "prodcts"'), "unknown service `prodcts` in `calls` of service `orders`", "did you mean `products`?", ('"prodcts"', 0)),
 ("calls-itself", two(orders='  [[services.calls]]\n  service = "orders"'), "service `orders` calls itself", None, ('"orders"', 1)),
 ("calls-cycle", two(orders='  [[services.calls]]\n  service = "products"', products='  [[services.calls]]\n  service = "orders"'), "cycle in `calls`: orders → products → orders", None, ('"orders"', 1)),
 ("port-clash", two(orders='port = 9100', products='port = 9100'), "port 9100 of service `products` is already used by service `orders`", None, ("9100", 1)),
 ("port-clash-gateway", BASE.replace('name = "orders"', 'name = "orders"\nport = 8080'), "port 8080 of service `orders` is already used by the gateway", None, ("8080", 0)),
 ("path-exposed-twice", two().replace('  name = "Product"', '  name = "Product"\n  expose = { path = "/orders" }'), "path `/orders` is exposed twice (also by `Order` of service `orders`)", None, ('"/orders"', 1)),
 ("path-without-slash", two().replace('path = "/orders"', 'path = "orders"'), "`orders` is not a valid path in `expose` of `Order`", "start it with `/`: `/orders`", ('"orders"', 1)),
 ("unknown-role", AUTH + two().replace('path = "/orders"', 'path = "/orders", read = ["admn"]'), "unknown role `admn` in `expose` of `Order`", "did you mean `admin`?", ('"admn"', 0)),
 ("roles-without-auth", two().replace('path = "/orders"', 'path = "/orders", write = ["admin"]'), "`expose` of `Order` names role `admin`, but there is no [auth] section", "add [auth] with `roles`", ('"admin"', 0)),
 ("crud-without-store", BASE.replace('name = "orders"', 'name = "orders"\nstore = "none"'), "service `orders`: style `crud` cannot work with store `none`", 'use store = "postgres", or style = "worker" for a service without state', ('"none"', 0)),
 ("crud-without-entities", '[system]\nname = "demo"\n\n[[services]]\nname = "orders"\n', "crud service `orders` declares no entities", None, ('"orders"', 0)),
 ("entities-on-worker", ev(cust_con='"OrderCreated"').replace('name = "customers"', 'name = "customers"\nstyle = "worker"'), "service `customers` declares entities, which only a `crud` service has (its style is `worker`)", None, ('"worker"', 0)),
 ("aggregate-event-without-id", '''[system]
name = "demo"

[[events]]
name = "CartCreated"
[events.fields]
customer-id = "uuid"

[[services]]
name = "carts"
style = "event-sourced"
  [[services.aggregates]]
  name = "Cart"
  [services.aggregates.commands]
  create = "CartCreated"
''', "event `CartCreated` recorded by aggregate `Cart` has no `cart-id` field", None, ('"CartCreated"', 1)),
 ("view-key-not-field", ev(sagas=history(key="order-idd")), "key `order-idd` of view `OrderSummary` is not one of its fields", "did you mean `order-id`?", ('"order-idd"', 0)),
 ("view-source-not-consumed", ev(sagas=history(frm='"OrderCreated", "CreditReserved"')), "view `OrderSummary` is fed by `CreditReserved`, which service `history` does not consume", 'add "CreditReserved" to `consumes`', ('"CreditReserved"', 3)),
 ("saga-unknown-owner", ev(sagas=saga(owner="order")), "unknown service `order` in saga `place-order`", "did you mean `orders`?", ('"order"', 0)),
 ("saga-step-without-on-success", ev(sagas=saga(step='compensation = "release-credit"')), "step `reserve-credit` of choreography saga `place-order` has no `on-success` event", "name the event the participant publishes when the step succeeds", ('"reserve-credit"', 0)),
 ("saga-step-event-not-published", ev(orders_con='"CreditReserved", "OrderCreated"', sagas=saga(step='on-success = "OrderCreated"')), "service `customers` does not publish `OrderCreated`, named by a step of saga `place-order`", None, ('"OrderCreated"', 4)),
 ("saga-owner-does-not-consume", ev(orders_con='', sagas=saga()), "owner `orders` of saga `place-order` does not consume `CreditReserved`", 'add "CreditReserved" to `consumes` of `orders`', ('"CreditReserved"', 2)),
 ("bff-route-not-exposed", bff('routes = ["/order"]\n'), "route `/order` of bff `web` is not exposed by any service", "did you mean `/orders`?", ('"/order"', 0)),
 ("composition-later-call", bff('  [[bffs.compositions]]\n  path = "/details/{id}"\n  calls = [{ service = "products", path = "/products/{orders.customer-id}" }]\n').replace('  name = "Product"', '  name = "Product"\n  expose = { path = "/products" }'), "`{orders.customer-id}` in composition `/details/{id}` of bff `web` refers to `orders`, which is not an earlier call", None, ('"/products/{orders.customer-id}"', 0)),
 ("composition-unknown-field", bff('  [[bffs.compositions]]\n  path = "/details/{id}"\n  calls = [\n    { service = "orders", path = "/orders/{id}" },\n    { service = "products", path = "/products/{orders.custmer-id}" },\n  ]\n').replace('  name = "Product"', '  name = "Product"\n  expose = { path = "/products" }'), "unknown field `custmer-id` of service `orders` in composition `/details/{id}` of bff `web`", "did you mean `customer-id`?", ('"/products/{orders.custmer-id}"', 0)),
 ("bad-cpu", BASE.replace('name = "orders"', 'name = "orders"\nresources = { cpu = "lots", memory = "64Mi" }'), "`lots` is not a CPU quantity", 'write millicores like "100m" or cores like "1"', ('"lots"', 0)),
 ("bad-memory", BASE.replace('name = "orders"', 'name = "orders"\nresources = { cpu = "100m", memory = "64MB" }'), "`64MB` is not a memory quantity", 'write a size like "64Mi" or "1Gi"', ('"64MB"', 0)),
 ("autoscale-without-max", BASE.replace('name = "orders"', 'name = "orders"\nautoscale = { min = 2 }'), "missing required key `max` in `autoscale` of [[services]] `orders`", None, ("{ min", 0)),
 ("rate-limit-without-per-second", BASE + '\n[gateway]\nrate-limit = { burst = 10 }\n', "missing required key `per-second` in `rate-limit` of [gateway]", None, ("{ burst", 0)),
 ("bff-port-clash", bff('').replace('port = 8090', 'port = 8101'), "port 8101 of bff `web` is already used by service `orders`", None, ("8101", 0)),
 ("istio-with-registry", BASE.replace('name = "demo"\n', 'name = "demo"\n\n[platform]\nmesh = "istio"\n', 1), '`mesh = "istio"` needs `discovery = "kubernetes"`: the registry hands out pod addresses, which bypass the mesh\'s routes and its strict mTLS', 'set `discovery = "kubernetes"` in [platform] (the mesh then balances and retries)', ('"istio"', 0)),
 ("events-without-broker", ev().replace('name = "demo"\n', 'name = "demo"\n\n[platform]\nbroker = "none"\n', 1), "services publish or consume events, but `broker` is `none`", "choose a broker: nats, rabbitmq or kafka", ('"none"', 0)),
 ("view-source-without-key", VIEW_SOURCE_WITHOUT_KEY, "event `CreditReserved` has no field `customer-id`, the key of view `OrderSummary`", "add `customer-id` to the event's fields, or remove it from `from`", ('"CreditReserved"', 4)),
 ("path-trailing-slash", expose("/orders/"), "`/orders/` is not a valid path in `expose` of `Order`", "remove the trailing slash: `/orders`", ('"/orders/"', 0)),
 ("path-empty-segment", expose("/v1//orders"), "`/v1//orders` is not a valid path in `expose` of `Order`", "remove the empty segment (`//`)", ('"/v1//orders"', 0)),
 ("path-dot-segment", expose("/orders/../admin"), "`/orders/../admin` is not a valid path in `expose` of `Order`", "a segment cannot be `..`", ('"/orders/../admin"', 0)),
 ("path-space", expose("/my orders"), "`/my orders` is not a valid path in `expose` of `Order`", "a space is not allowed in a path: segments hold letters, digits, `-`, `_` and `.`", ('"/my orders"', 0)),
 ("path-quote", two().replace('path = "/orders"', "path = '/orders\"'"), "`/orders\"` is not a valid path in `expose` of `Order`", "`\"` is not allowed in a path: segments hold letters, digits, `-`, `_` and `.`", ("'/orders\"'", 0)),
 ("path-parameter-in-expose", expose("/orders/{id}"), "`/orders/{id}` is not a valid path in `expose` of `Order`", "parameters such as `{id}` belong in composition paths; the routes of an exposed path (`/orders/{id}`) are made for you", ('"/orders/{id}"', 0)),
 ("path-empty", expose(""), "`path` in `expose` of entity `Order` is empty", "write `/segment`, e.g. `/orders`", ('""', 0)),
 ("path-builtin-metrics", expose("/metrics"), "path `/metrics` in `expose` of `Order` clashes with the built-in route `/metrics`: every process serves its metrics there", "choose another path", ('"/metrics"', 0)),
 ("path-builtin-admin", expose("/admin/reports"), "path `/admin/reports` in `expose` of `Order` clashes with the built-in routes `/admin` and `/admin/…`: the generated services serve their admin endpoints there (`/admin/dead-letters`, `/admin/sagas`, `/admin/config`, …)", "choose another path", ('"/admin/reports"', 0)),
 ("path-builtin-auth", AUTH + expose("/users"), "path `/users` in `expose` of `Order` clashes with the built-in route `/users`: the gateway routes it to the auth service (user administration)", "choose another path", ('"/users"', 0)),
 ("path-bff-prefix", bff('').replace('path = "/orders"', 'path = "/web/orders"'), "path `/web/orders` in `expose` of `Order` clashes with the built-in routes `/web` and `/web/…`: the gateway routes it to bff `web`", "choose another path", ('"/web/orders"', 0)),
 ("composition-param-camel-case", comp("/details/{orderId}", '{ service = "orders", path = "/orders" }'), "`/details/{orderId}` is not a valid path in composition `/details/{orderId}` of bff `web`", "`{orderId}`: a parameter is lowercase letters and digits joined by `-` or `_`, starting with a letter (`{order-id}`)", ('"/details/{orderId}"', 0)),
 ("composition-param-in-segment", comp("/details-{id}", '{ service = "orders", path = "/orders" }'), "`/details-{id}` is not a valid path in composition `/details-{id}` of bff `web`", "`details-{id}`: a parameter is a whole segment, as in `/orders/{id}`", ('"/details-{id}"', 0)),
 ("composition-call-bad-param", comp("/details/{id}", '{ service = "orders", path = "/orders/{ID}" }'), "`/orders/{ID}` is not a valid path in composition `/details/{id}` of bff `web`", "`{ID}`: write `{param}` of the composition's path or `{service.field}` of an earlier call, in lowercase (`{orders.customer-id}`)", ('"/orders/{ID}"', 0)),
 ("composition-same-handler", comp("/v1/orders/{id}") + COMP.format(path="/v1/customers/{id}", calls=ORDER_CALL), "composition `/v1/customers/{id}` of bff `web` would be generated as the function `v1`, as is composition `/v1/orders/{id}`", HANDLER_HINT, ('"/v1/customers/{id}"', 0)),
 ("composition-handler-not-identifier", comp("/2fa/{id}"), "composition `/2fa/{id}` of bff `web` would be generated as the function `2fa`, which is not a Rust identifier", HANDLER_HINT, ('"/2fa/{id}"', 0)),
 ("composition-handler-keyword", comp("/type/{id}"), "composition `/type/{id}` of bff `web` would be generated as the function `type`, a Rust keyword", HANDLER_HINT, ('"/type/{id}"', 0)),
 ("composition-handler-taken", comp("/router/{id}"), "composition `/router/{id}` of bff `web` would be generated as the function `router`, which the generated compositions.rs already has", HANDLER_HINT, ('"/router/{id}"', 0)),
 ("composition-builtin-route", comp("/health/{id}"), "composition `/health/{id}` of bff `web` clashes with the built-in routes `/health` and `/health/…`: every process serves `/health/live` and `/health/ready`", "choose another path", ('"/health/{id}"', 0)),
 ("composition-param-keyword", comp("/details/{type}", '{ service = "orders", path = "/orders/{type}" }'), "parameter `{type}` of composition `/details/{type}` of bff `web` would be the variable `type`, a Rust keyword", PARAM_HINT, ('"/details/{type}"', 0)),
 ("composition-param-shadows-local", comp("/details/{token}", '{ service = "orders", path = "/orders/{token}" }'), "parameter `{token}` of composition `/details/{token}` of bff `web` would shadow `token` of the generated handler", PARAM_HINT, ('"/details/{token}"', 0)),
 ("composition-param-shadows-call", comp("/details/{orders}", '{ service = "orders", path = "/orders/{orders}" }'), "parameter `{orders}` of composition `/details/{orders}` of bff `web` would shadow `orders`, the answer of its call to a service", PARAM_HINT, ('"/details/{orders}"', 0)),
 ("composition-param-twice", comp("/details/{id}/{id}"), "parameter `{id}` appears twice in composition `/details/{id}/{id}` of bff `web`", PARAM_HINT, ('"/details/{id}/{id}"', 0)),
 ("service-name-keyword", BASE.replace('"orders"', '"type"'), "service name `type` is a Rust keyword, and generated code uses it as an identifier", "choose another name, such as `type-service`", ('"type"', 0)),
 ("service-name-cargo-directory", BASE.replace('"orders"', '"build"'), "service name `build` cannot name a crate: Cargo refuses it, as its build output has a directory of that name", "choose another name, such as `build-service`", ('"build"', 0)),
 ("service-name-builtin-crate", BASE.replace('"orders"', '"std"'), "service name `std` is the name of a Rust built-in crate, which generated code would mistake it for", "choose another name, such as `std-service`", ('"std"', 0)),
 ("bff-name-cargo-directory", bff('').replace('name = "web"', 'name = "deps"'), "bff name `deps` cannot name a crate: Cargo refuses it, as its build output has a directory of that name", "choose another name, such as `deps-bff`", ('"deps"', 0)),
 ("bff-no-free-port", BASE.replace('name = "orders"', 'name = "orders"\nport = 65535') + '\n[[bffs]]\nname = "web"\n', "no free port is left after the services' for bff `web`", "give it a `port`", ('"web"', 0)),
 ("saga-name-keyword", ev(sagas=saga().replace('"place-order"', '"match"')), "saga name `match` would be the module `match`, a Rust keyword", KEYWORD_HINT, ('"match"', 0)),
 ("saga-action-keyword", ev(sagas=saga().replace('"reserve-credit"', '"return"')), "saga action name `return` would be the function `return`, a Rust keyword", KEYWORD_HINT, ('"return"', 0)),
 ("saga-compensation-keyword", ev(sagas=saga(step='on-success = "CreditReserved"\n  compensation = "move"')), "saga compensation name `move` would be the function `move`, a Rust keyword", KEYWORD_HINT, ('"move"', 0)),
 ("entity-name-keyword", BASE.replace('"Order"', '"Type"'), "entity name `Type` would be the module `type`, a Rust keyword", "choose another name; names of two words (`OrderType`) are never keywords", ('"Type"', 0)),
 ("entity-name-runtime-type", BASE.replace('"Order"', '"Page"'), "entity name `Page` clashes with `runtime::Page` in the generated code", "choose another name", ('"Page"', 0)),
 ("entity-name-prelude-type", BASE.replace('"Order"', '"Option"'), "entity name `Option` clashes with `Option` of Rust's prelude in the generated code", "choose another name", ('"Option"', 0)),
 ("entity-name-generated-type", BASE.replace('total = "decimal"', 'status = "enum(open, closed)"') + '  [[services.entities]]\n  name = "OrderStatus"\n  [services.entities.fields]\n  label = "string"\n', "entity name `OrderStatus` clashes with the type `OrderStatus` generated for entity `Order`", "choose another name", ('"OrderStatus"', 0)),
 ("entity-generates-taken-type", BASE.replace('"Order"', '"App"').replace('total = "decimal"', 'state = "enum(on, off)"'), "entity `App` would generate the type `AppState`, which clashes with `api::AppState` in the generated code", "choose another name", ('"App"', 0)),
 ("view-named-like-its-event", ev(sagas=history(name="OrderCreated")), "view name `OrderCreated` clashes with event `OrderCreated`, which its generated hooks import", "choose another name", ('"OrderCreated"', 4)),
 ("event-name-contracts-type", BASE.replace('name = "orders"', 'name = "orders"\npublishes = ["Envelope"]') + '\n[[events]]\nname = "Envelope"\n[events.fields]\norder-id = "uuid"\n', "event name `Envelope` clashes with `contracts::Envelope` in the generated code", "choose another name", ('"Envelope"', 1)),
 ("composition-calls-service-twice", comp("/details/{id}", ORDER_CALL + ', { service = "orders", path = "/orders" }'), "composition `/details/{id}` of bff `web` calls service `orders` twice", "its answer has one member per service: call each service once", ('"orders"', 2)),
]
os.makedirs(OUT, exist_ok=True)
for f in os.listdir(OUT):
    os.remove(os.path.join(OUT, f))
for i, (name, body, msg, hint, at) in enumerate(cases, 1):
    nhead = 1 + (1 if hint else 0)
    if at is None:  # the file as a whole: its start
        line, col = 1, 1
    else:
        tok, nth = at
        pos = -1
        for _ in range(nth + 1):
            pos = body.index(tok, pos + 1)
        before = body[:pos]
        line = before.count('\n') + 1 + nhead
        col = len(before) - (before.rfind('\n') + 1) + 1
    if msg is None:
        msg = "PLACEHOLDER"
    head = f"# expect: {line}:{col}: {msg}\n" + (f"# hint: {hint}\n" if hint else "")
    open(f"{OUT}/{i:02d}-{name}.toml", "w").write(head + body)
print(len(cases))
