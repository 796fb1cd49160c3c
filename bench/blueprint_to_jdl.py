#!/usr/bin/env python3
"""Translates a msa-gen blueprint into the closest JHipster 8 JDL: a gateway application and a
microservice application per service (Postgres, JWT, Consul discovery, Kafka when the
blueprint has a broker), with one JDL entity per entity, aggregate and view and the same fields.
Used by bench/generation.py so both generators make the same system.

    python3 bench/blueprint_to_jdl.py blueprints/shop.toml > /tmp/shop.jdl
"""
import re
import sys
import tomllib

TYPES = {
    "string": "String", "text": "TextBlob", "bool": "Boolean", "i32": "Integer",
    "i64": "Long", "f64": "Double", "decimal": "BigDecimal", "uuid": "UUID",
    "date": "LocalDate", "datetime": "Instant", "json": "TextBlob",
}


def pascal(kebab: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[-_]", kebab) if p)


def camel(kebab: str) -> str:
    p = pascal(kebab)
    return p[:1].lower() + p[1:]


def package(name: str) -> str:
    return "com.acme." + re.sub(r"[^a-z0-9]", "", name)


def jdl(bp: dict) -> str:
    services = bp.get("services", [])
    broker = bp.get("platform", {}).get("broker", "nats") != "none"
    apps, entities, enums, bindings = [], [], [], []
    port = 8101
    gateway_entities = []
    for s in services:
        names = []
        tables = s.get("entities", []) + s.get("aggregates", []) + s.get("views", [])
        for e in tables:
            fields = e.get("fields") or {}
            if not fields and "commands" in e:
                fields = {"status": "string"}
            lines = []
            for fname, ftype in fields.items():
                optional = ftype.endswith("?")
                ftype = ftype.rstrip("?")
                m = re.fullmatch(r"enum\((.*)\)", ftype)
                if m:
                    enum = e["name"] + pascal(fname)
                    values = ", ".join(v.strip().upper().replace("-", "_") for v in m.group(1).split(","))
                    enums.append(f"enum {enum} {{ {values} }}")
                    jtype = enum
                elif ftype.startswith("list<"):
                    jtype = "TextBlob"
                else:
                    jtype = TYPES.get(ftype, "String")
                lines.append(f"  {camel(fname)} {jtype}{'' if optional else ' required'}")
            entities.append(f"entity {e['name']} {{\n" + ",\n".join(lines) + "\n}")
            names.append(e["name"])
        if names:
            bindings.append(f"microservice {', '.join(names)} with {camel(s['name'])}")
            gateway_entities += names
        apps.append(
            "application {\n  config {\n"
            f"    baseName {camel(s['name'])}\n    applicationType microservice\n"
            f"    packageName {package(s['name'])}\n    serverPort {s.get('port', port)}\n"
            "    authenticationType jwt\n    serviceDiscoveryType consul\n"
            "    databaseType sql\n    prodDatabaseType postgresql\n    devDatabaseType postgresql\n"
            "    buildTool maven\n    skipClient true\n"
            + ("    messageBroker kafka\n" if broker else "")
            + "  }\n"
            + (f"  entities {', '.join(names)}\n" if names else "")
            + "}"
        )
        port += 1
    gateway = (
        "application {\n  config {\n    baseName gateway\n    applicationType gateway\n"
        "    packageName com.acme.gateway\n    serverPort 8080\n    authenticationType jwt\n"
        "    serviceDiscoveryType consul\n    buildTool maven\n    clientFramework no\n"
        "    databaseType sql\n    prodDatabaseType postgresql\n    devDatabaseType postgresql\n"
        "  }\n"
        + (f"  entities {', '.join(gateway_entities)}\n" if gateway_entities else "")
        + "}"
    )
    return "\n\n".join([gateway] + apps + entities + sorted(set(enums)) + bindings) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        sys.stdout.write(jdl(tomllib.load(f)))
