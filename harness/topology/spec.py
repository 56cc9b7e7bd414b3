"""From a topology as written (an experiment's ``topology:``, merged with its preset) to a
:class:`~harness.topology.Topology`, or every problem found, each with its YAML path.

How it is put together:

1. Services: the preset's (``harness/topology/presets/<preset>.yaml``, loaded like a user's
   file), picked by name in ``topology.services`` or, when that key is not written, those the
   preset ``starts: by-default``; a mapping with a preset service's name replaces the keys it
   writes; a mapping with a new name declares a service. A service that a running one depends
   on and that ``starts: when-needed`` (the EHR's witness with fencing, the care application's
   notification sink) is added; any other missing dependency is an error unless ``optional``.
2. Instances: each service's, ``count`` expanded (``care-{n}`` -> care-1, care-2, ...).
3. Links, derived then written: for a service with a ``front_door`` route, the entry link
   ``campus-frontdoor-<service>`` and one ``frontdoor-<instance>`` per instance; for
   ``clients: direct``, ``campus-<instance>``; for each dependency, ``<instance>-frontdoor-
   <service>`` (via the front door) or ``<instance>-<dependency instance>`` (direct); then
   ``links:`` (a preset's link whose ends do not run is dropped, a user's is an error).
4. Sites: the preset's and the written ones; a witness or external site with no instance is
   left out (a third site with nothing in it is not part of the system).

Contract: :func:`build_topology` is pure (no I/O beyond reading the preset file once) and
either returns a consistent Topology or raises :class:`TopologyProblems` listing every
problem, with paths relative to the ``topology`` section.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.experiment.base import Loc, Problem, did_you_mean, some_of
from harness.experiment.model import TopologyConfig
from harness.experiment.topology_spec import (
    HTTP_CAPABILITIES,
    DependencySpec,
    InstanceSpec,
    ServiceSpec,
)
from harness.services import DRIVERS
from harness.topology import placeholders
from harness.topology.model import FrontDoor, FrontDoorRoute, Instance, Link, Service, Site, Topology
from harness.topology.presets import preset_config

FRONT_DOOR = "front-door"
CAMPUS = "campus"
MAX_COUNT = 64

RUN_KEYS = frozenset({"builtin", "command", "image", "url"})
"""How a service runs: exactly one of them."""

BUILTINS = tuple(DRIVERS)
"""The harness's own services (``builtin:``), one driver each (:mod:`harness.services`)."""


class TopologyProblems(ValueError):
    """Everything wrong with a topology; ``problems`` carry paths relative to ``topology``."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.message}" for p in problems))


@dataclass(frozen=True)
class _Chosen:
    spec: ServiceSpec
    loc: Loc
    """Where the user wrote it (the preset's own services: the ``services`` key)."""
    written: frozenset[str] = frozenset()
    """The keys the user wrote (the others are the preset's)."""

    def at(self, key: str, *rest: str | int) -> Loc:
        """The path of ``key`` (and below) when the user wrote it, else of the service's entry:
        a problem in a preset's part is the user's choice of that service, located there."""
        return (*self.loc, key, *rest) if key in self.written else self.loc


def build_topology(config: TopologyConfig) -> Topology:
    """The topology ``config`` describes (see the module docstring). Raises :class:`TopologyProblems`."""
    return _Builder(config).build()


def default_ports(spec: ServiceSpec) -> dict[str, int | None]:
    """A service's named ports (None: chosen at start-up): as written, else from what it speaks."""
    if spec.ports is not None:
        return {name: None if port == "auto" else port for name, port in spec.ports.items()}
    names: list[str] = []
    for capability in spec.speaks or ():
        name = "http" if capability in HTTP_CAPABILITIES else "mllp" if capability == "hl7v2-mllp" else "tcp"
        if name not in names:
            names.append(name)
    return {name: None for name in names or ["http"]}


def client_port(service: Service) -> str:
    """The port clients use: ``mllp`` for an HL7 engine, else ``http`` if it has one, else its first."""
    if service.speaks("hl7v2-mllp") and "mllp" in service.ports:
        return "mllp"
    return "http" if "http" in service.ports else service.ports[0]


class _Builder:
    def __init__(self, config: TopologyConfig) -> None:
        self.config = config
        self.preset = preset_config(config.preset) if config.preset != "none" else None
        self.problems: list[Problem] = []
        self.running: set[str] = set()
        self.chosen: list[_Chosen] = []

    def problem(self, loc: Loc, message: str, expected: str | None = None, found: str | None = None) -> None:
        self.problems.append(Problem(loc, message, expected, found))

    def build(self) -> Topology:
        chosen = self.chosen = self._choose_services()
        self.running = {c.spec.name for c in chosen}
        services = {c.spec.name: self._service(c) for c in chosen}
        instances = {c.spec.name: self._instances(c) for c in chosen}
        sites = self._sites()
        self._check_placement(chosen, instances, sites)
        self._check_dependencies(chosen, services)
        self._check_knobs(chosen)
        self._check_fixed_ports(chosen)
        routes, links = self._derived_links(chosen, services, instances)
        links += self._written_links(services, instances, {link.name for link in links})
        if self.problems:
            raise TopologyProblems(self.problems)
        used_sites = {i.site for group in instances.values() for i in group}
        kept = tuple(s for s in sites.values() if s.kind in ("campus", "datacenter") or s.name in used_sites)
        try:
            return Topology(self.config.preset if self.config.preset != "none" else "custom", kept,
                            tuple(services.values()), tuple(i for group in instances.values() for i in group),
                            tuple(links), FrontDoor(FRONT_DOOR, CAMPUS, tuple(routes)))
        except ValueError as exc:  # a rule the checks above missed: still a located error
            raise TopologyProblems([Problem(("services",), str(exc))]) from None

    # -- 1. services ---------------------------------------------------------------------

    def _choose_services(self) -> list[_Chosen]:
        preset = {s.name: s for s in self._preset_services()}
        written = "services" in self.config.model_fields_set or self.preset is None
        chosen: dict[str, _Chosen] = {}
        if self.preset is None and "services" not in self.config.model_fields_set:
            self.problem(("preset",), "with preset: none, declare your services under topology.services "
                                      "(there is no preset to pick them from)")
            return []
        if not written:
            for spec in preset.values():
                if spec.starts in (None, "by-default"):
                    chosen[spec.name] = _Chosen(spec, ("services",))
        for index, entry in enumerate(self.config.services if written else ()):
            loc: Loc = ("services", index)
            name = entry if isinstance(entry, str) else entry.name
            if name in chosen:
                self.problem(loc, f"the service {name!r} is listed twice")
                continue
            if isinstance(entry, str):
                if entry not in preset:
                    close = did_you_mean(entry, list(preset))
                    hint = f"did you mean {close!r}? " if close else ""
                    where = f"the {self.config.preset} preset has {some_of(list(preset))}" if preset else \
                        "there is no preset (preset: none)"
                    self.problem(loc, f"unknown service {entry!r}: {hint}{where}; to add a service of yours, "
                                      "write a mapping (name, command, speaks, instances)", found=repr(entry))
                    continue
                chosen[name] = _Chosen(preset[entry], loc)
            elif name in preset:
                base = preset[name]
                update = {k: getattr(entry, k) for k in entry.model_fields_set}
                if RUN_KEYS & entry.model_fields_set:
                    # Written how it runs (your own EHR instead of ours): none of the preset's ways stays.
                    update |= {k: None for k in RUN_KEYS - entry.model_fields_set}
                chosen[name] = _Chosen(base.model_copy(update=update), loc, frozenset(entry.model_fields_set))
            else:
                chosen[name] = _Chosen(entry, loc, frozenset(entry.model_fields_set))
        # Services a running one needs and that start when needed (witness, notification sink).
        added = True
        while added:
            added = False
            for item in list(chosen.values()):
                for dep in self._active_dependencies(item.spec):
                    target = preset.get(dep.service)
                    if dep.service not in chosen and target is not None and target.starts == "when-needed":
                        chosen[dep.service] = _Chosen(target, ("services",))
                        added = True
        order = [*preset, *(n for n in chosen if n not in preset)]
        return [chosen[name] for name in order if name in chosen]

    def _preset_services(self) -> Iterable[ServiceSpec]:
        if self.preset is None:
            return ()
        return (s for s in self.preset.services if isinstance(s, ServiceSpec))

    def _active_dependencies(self, spec: ServiceSpec) -> list[DependencySpec]:
        deps = [DependencySpec(service=d) if isinstance(d, str) else d for d in spec.depends_on or ()]
        return [d for d in deps if d.when is None or self._knob(d.when) is True]

    def _check_knobs(self, chosen: list[_Chosen]) -> None:
        """Every ``when:`` names an on/off knob (a typo would silently drop the dependency)."""
        for item in chosen:
            for index, dep in enumerate(item.spec.depends_on or ()):
                if isinstance(dep, DependencySpec) and dep.when is not None \
                        and not isinstance(self._knob(dep.when), bool):
                    self.problem(item.at("depends_on", index, "when"), f"when: {dep.when!r} is not an on/off knob of "
                                 "the topology (e.g. 'ehr.fencing')", found=repr(dep.when))

    def _knob(self, path: str) -> object:
        section, _, knob = path.partition(".")
        return getattr(getattr(self.config, section, None), knob, None)

    def _service(self, chosen: _Chosen) -> Service:
        spec, loc = chosen.spec, chosen.loc
        # With an image, 'command' is the container's command (as in Compose), not another way.
        ways = [w for w in ("builtin", "command", "image", "url") if getattr(spec, w) is not None
                and not (w == "command" and spec.image is not None)]
        if len(ways) != 1:
            self.problem(loc, f"service {spec.name!r}: say how it runs with exactly one of builtin (ours), command "
                              f"(a process), image (a container), url (a real endpoint); found: "
                              f"{', '.join(ways) or 'none'}")
        elif ways[0] == "url":
            self.problem(chosen.at("url"), f"service {spec.name!r}: 'url:' needs the external backend, which this "
                                        "version does not have yet; use 'command:' (local) or 'image:' (docker)")
        if spec.builtin is not None and spec.builtin not in BUILTINS:
            self.problem(chosen.at("builtin"), f"unknown built-in service {spec.builtin!r}; ours are "
                                            f"{', '.join(BUILTINS)}", found=repr(spec.builtin))
        if not spec.speaks:
            self.problem(loc, f"service {spec.name!r}: say what it speaks (speaks: [fhir-r4 | hl7v2-mllp | dicomweb "
                              "| http | tcp]): probes, load and checks choose their protocol from it")
        if spec.instances is None:
            self.problem(loc, f"service {spec.name!r} has no instances: list where it runs "
                              "(instances: [{name: ..., site: ..., role: ...}])")
        ports = default_ports(spec)
        http = spec.speaks is not None and any(c in HTTP_CAPABILITIES for c in spec.speaks)
        if spec.front_door is not None and not http:
            self.problem(chosen.at("front_door"), f"service {spec.name!r}: the front door routes HTTP services only "
                                               "(fhir-r4, dicomweb, http); give its clients 'clients: direct'")
        if (spec.front_door is not None or http) and spec.speaks and http and "http" not in ports:
            self.problem(chosen.at("ports"), f"service {spec.name!r} speaks HTTP but has no 'http' port")
        if spec.clients == "front-door" and spec.front_door is None:
            self.problem(chosen.at("clients"), f"service {spec.name!r}: 'clients: front-door' needs a front_door route")
        if spec.ready is not None:
            self._check_readiness_ports(spec.ready, ports, chosen.at("ready"))
        # An optional dependency that does not run is no dependency: no link, no placeholder.
        dependencies = [d.service for d in self._active_dependencies(spec) if d.service in self.running
                        or not d.optional]
        texts = [(chosen.at("command", i), arg) for i, arg in enumerate(spec.command or ())]
        texts += [(chosen.at("env", key), value) for key, value in spec.env.items()]
        for where, text in texts:
            for name in placeholders.names_in(text):
                if (why := placeholders.problem_with(name, ports, dependencies)) is not None:
                    self.problem(where, why, found=repr(text))
        return Service(
            spec.name, spec.description or "", ports=tuple(ports), capabilities=tuple(spec.speaks or ()),
            builtin=spec.builtin, command=spec.command, image=spec.image, env=tuple(sorted(spec.env.items())),
            workdir=spec.workdir,
            fixed_ports=tuple((n, p) for n, p in ports.items() if p is not None), readiness=spec.ready,
            depends_on=tuple(d for d in dependencies if d in self.running), health_path=self._health_path(spec),
            base_path=(spec.base_path or "").rstrip("/"))

    def _health_path(self, spec: ServiceSpec) -> str:
        """What says the service is up: a built-in's health path; for a user service, its
        front-door check when written, else its HTTP readiness path, else ``/``."""
        if spec.builtin is not None and spec.builtin in DRIVERS:
            return DRIVERS[spec.builtin].health_path
        if spec.front_door is not None and "check" in spec.front_door.model_fields_set:
            return spec.front_door.check
        if spec.ready is not None and spec.ready.http is not None:
            return spec.ready.http.path
        return "/"

    def _check_readiness_ports(self, ready: object, ports: dict[str, int | None], loc: Loc) -> None:
        from harness.experiment.topology_spec import ReadinessSpec
        assert isinstance(ready, ReadinessSpec)
        named = [("http", ready.http.port)] if ready.http else []
        if ready.tcp is not None and ready.tcp.port is not None:
            named.append(("tcp", ready.tcp.port))
        for key, port in named:
            if port not in ports:
                self.problem((*loc, key, "port"), f"no port {port!r}; the service's ports are {', '.join(ports)}",
                             found=repr(port))
        for key in ("all_of", "any_of"):
            for index, inner in enumerate(getattr(ready, key)):
                self._check_readiness_ports(inner, ports, (*loc, key, index))

    # -- 2. instances and sites ------------------------------------------------------------

    def _instances(self, chosen: _Chosen) -> tuple[Instance, ...]:
        result: list[Instance] = []
        for index, spec in enumerate(chosen.spec.instances or ()):
            loc = chosen.at("instances", index)
            count = self._count(spec, loc)
            if count == 1 and "{n}" not in spec.name:
                result.append(Instance(spec.name, chosen.spec.name, spec.site, spec.role))
                continue
            if "{n}" not in spec.name:
                self.problem((*loc, "name"), f"{count} instances need a name template with '{{n}}' "
                                             f"(e.g. '{spec.name}-{{n}}')", found=repr(spec.name))
                continue
            result += [Instance(spec.name.replace("{n}", str(n)), chosen.spec.name, spec.site, spec.role)
                       for n in range(1, count + 1)]
        for inst in result:
            if "{" in inst.name or "}" in inst.name:
                self.problem(chosen.at("instances"), f"instance name {inst.name!r}: only '{{n}}' may be a template")
        return tuple(result)

    def _count(self, spec: InstanceSpec, loc: Loc | None) -> int:
        """How many instances ``spec`` stands for; problems reported at ``loc`` (None: not again)."""
        value = spec.count if isinstance(spec.count, int) else self._knob(spec.count)
        if loc is None:
            return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_COUNT else 1
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem((*loc, "count"), f"count must be 1..{MAX_COUNT} or a knob such as 'care.workstations'; "
                                          f"{spec.count!r} is neither", found=repr(spec.count))
            return 1
        if not 1 <= value <= MAX_COUNT:
            self.problem((*loc, "count"), f"count must be 1..{MAX_COUNT}, found {value}", found=str(value))
            return 1
        return value

    def _sites(self) -> dict[str, Site]:
        sites: dict[str, Site] = {}
        for spec in (*(self.preset.sites if self.preset else ()), *self.config.sites):
            sites[spec.name] = Site(spec.name, spec.kind, spec.description)
        if CAMPUS not in sites:
            sites = {CAMPUS: Site(CAMPUS, "campus", "clients, probes and load generators; hosts the front door"),
                     **sites}
        return sites

    def _check_placement(self, chosen: list[_Chosen], instances: dict[str, tuple[Instance, ...]],
                         sites: dict[str, Site]) -> None:
        seen: dict[str, str] = {}
        for item in chosen:
            for index, spec in enumerate(item.spec.instances or ()):
                if spec.site not in sites:
                    close = did_you_mean(spec.site, list(sites))
                    hint = f" (did you mean {close!r}?)" if close else ""
                    self.problem(item.at("instances", index, "site"),
                                 f"unknown site {spec.site!r}{hint}; sites: {', '.join(sites)} (add one under "
                                 "topology.sites)", found=repr(spec.site))
            for inst in instances[item.spec.name]:
                if inst.name in sites and inst.site != inst.name:  # the witness in its own site is fine
                    self.problem(item.at("instances"), f"instance name {inst.name!r} is also a site's: faults and "
                                                       "partition groups name both, so they must differ",
                                 found=repr(inst.name))
                if inst.name in seen or inst.name in (CAMPUS, FRONT_DOOR):
                    owner = seen.get(inst.name, "the harness")
                    self.problem(item.at("instances"), f"instance name {inst.name!r} is already used by "
                                                           f"{owner}", found=repr(inst.name))
                seen[inst.name] = item.spec.name
            fd = item.spec.front_door
            if fd is not None and fd.mode == "primary" and not any(i.role == "primary"
                                                                   for i in instances[item.spec.name]):
                self.problem(item.at("front_door", "mode"), f"service {item.spec.name!r}: 'primary' routing "
                                                                "needs an instance with role: primary")

    # -- 3. dependencies and ports ---------------------------------------------------------

    def _check_dependencies(self, chosen: list[_Chosen], services: dict[str, Service]) -> None:
        for item in chosen:
            raw = list(item.spec.depends_on or ())
            for index, dep in enumerate(self._active_dependencies(item.spec)):
                loc = item.at("depends_on", raw.index(dep) if dep in raw else index)
                if dep.service == item.spec.name:
                    self.problem(loc, f"service {dep.service!r} cannot depend on itself")
                elif dep.service not in services and not dep.optional:
                    self.problem(loc, f"service {item.spec.name!r} needs {dep.service}; add it to topology.services",
                                 expected=f"{dep.service!r} in topology.services")
                elif dep.service in services and dep.via == "front-door":
                    target = next(c for c in chosen if c.spec.name == dep.service)
                    if target.spec.front_door is None:
                        self.problem(loc, f"{dep.service!r} has no front-door route; use "
                                          f"{{service: {dep.service}, via: direct}}")
        graph = {name: [d for d in s.depends_on if d in services] for name, s in services.items()}
        cycle = _find_cycle(graph)
        if cycle:
            where = next(c.at("depends_on") for c in chosen if c.spec.name == cycle[0])
            self.problem(where, f"dependency cycle: {' -> '.join(cycle)}; a service cannot "
                                                 "(indirectly) depend on itself")

    def _check_fixed_ports(self, chosen: list[_Chosen]) -> None:
        owners: dict[int, str] = {}
        for item in chosen:
            count = sum(self._count(i, None) for i in item.spec.instances or ())
            for name, port in default_ports(item.spec).items():
                if port is None:
                    continue
                if not 1 <= port <= 65535:
                    self.problem(item.at("ports", name), f"port {port} is not 1..65535", found=str(port))
                elif port in owners:
                    self.problem(item.at("ports", name), f"port {port} is already {owners[port]}'s: two "
                                                             "services on one fixed port", found=str(port))
                elif count > 1:
                    self.problem(item.at("ports", name), f"{count} instances of {item.spec.name!r} cannot "
                                                             f"all listen on fixed port {port}; use 'auto'")
                owners[port] = item.spec.name

    # -- 4. links --------------------------------------------------------------------------

    def _chosen_owner_of(self, instance: str) -> _Chosen | None:
        """The chosen service that the preset placed ``instance`` in (None: not chosen, or not the preset's)."""
        for spec in self._preset_services():
            if any(i.name == instance for i in spec.instances or ()):
                return next((c for c in self.chosen if c.spec.name == spec.name), None)
        return None

    def _derived_links(self, chosen: list[_Chosen], services: dict[str, Service],
                       instances: dict[str, tuple[Instance, ...]]) -> tuple[list[FrontDoorRoute], list[Link]]:
        routes: list[FrontDoorRoute] = []
        links: list[Link] = []
        for item in chosen:
            spec, name = item.spec, item.spec.name
            if spec.front_door is not None:
                entry = f"campus-frontdoor-{name}"
                links.append(Link(entry, CAMPUS, CAMPUS, FRONT_DOOR, CAMPUS, "client",
                                  f"clients on campus to the front door ({name})", service=name))
                backends = []
                for inst in instances[name]:
                    backends.append(f"frontdoor-{inst.name}")
                    links.append(Link(backends[-1], FRONT_DOOR, CAMPUS, inst.name, inst.site, "client",
                                      f"front door to {inst.name} in {inst.site}"))
                check = spec.front_door.check if "check" in spec.front_door.model_fields_set \
                    else services[name].health_path
                routes.append(FrontDoorRoute(name, entry, tuple(backends), check, spec.front_door.mode))
        for item in chosen:
            service = services[item.spec.name]
            if item.spec.clients == "direct":
                port = client_port(service)
                for inst in instances[item.spec.name]:
                    links.append(Link(f"campus-{inst.name}", CAMPUS, CAMPUS, inst.name, inst.site, "client",
                                      f"clients on campus to {inst.name} ({port})", port=port))
        for item in chosen:
            for dep in self._active_dependencies(item.spec):
                if dep.service not in services:
                    continue
                for inst in instances[item.spec.name]:
                    if dep.via == "front-door":
                        links.append(Link(f"{inst.name}-frontdoor-{dep.service}", inst.name, inst.site, FRONT_DOOR,
                                          CAMPUS, dep.purpose, f"{inst.name} to {dep.service} through the front door",
                                          service=dep.service))
                        continue
                    for target in instances[dep.service]:
                        links.append(Link(f"{inst.name}-{target.name}", inst.name, inst.site, target.name,
                                          target.site, dep.purpose, f"{inst.name} to {target.name}",
                                          port=client_port(services[dep.service])))
        seen: dict[str, Link] = {}
        for link in links:
            if link.name in seen:
                first = seen[link.name]
                self.problem(("services",), f"two links would both be named {link.name!r} ({first.source} -> "
                                            f"{first.target} and {link.source} -> {link.target}): rename one of the "
                                            "instances", found=repr(link.name))
            seen.setdefault(link.name, link)
        return routes, links

    def _written_links(self, services: dict[str, Service], instances: dict[str, tuple[Instance, ...]],
                       taken: set[str]) -> list[Link]:
        where = {i.name: i for group in instances.values() for i in group}
        result: list[Link] = []
        preset_links = [(("links",), spec, True) for spec in (self.preset.links if self.preset else ())]
        user_links = [(("links", index), spec, False) for index, spec in enumerate(self.config.links)]
        for loc, spec, from_preset in (*preset_links, *user_links):
            missing = [end for end in (spec.source, spec.target) if end not in where and end != CAMPUS]
            if missing:
                if not from_preset:
                    self.problem(loc, f"link {spec.name!r}: no instance {missing[0]!r} in this topology; instances: "
                                      f"{some_of(list(where))}", found=repr(missing[0]))
                elif (owner := self._chosen_owner_of(missing[0])) is not None:
                    # The service runs but its instances were renamed: silently dropping the link
                    # would run it without (say) replication -- another system than the user meant.
                    self.problem(owner.at("instances"), f"the preset's link {spec.name!r} ({spec.source} -> "
                                                        f"{spec.target}) joins instances {owner.spec.name!r} no "
                                                        "longer has; write the links of your instances under "
                                                        "topology.links")
                continue
            if spec.name in taken:
                self.problem((*loc, "name"), f"link name {spec.name!r} is already used", found=repr(spec.name))
                continue
            target = where.get(spec.target)
            if target is None:
                self.problem((*loc, "target"), "a written link goes to an instance", found=repr(spec.target))
                continue
            if spec.port not in services[target.service].ports:
                self.problem((*loc, "port"), f"{spec.target!r} has no port {spec.port!r}; its ports: "
                                             f"{', '.join(services[target.service].ports)}", found=repr(spec.port))
                continue
            source_site = CAMPUS if spec.source == CAMPUS else where[spec.source].site
            taken.add(spec.name)
            result.append(Link(spec.name, spec.source, source_site, spec.target, target.site, spec.purpose,
                               spec.description, port=spec.port))
        return result


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None
