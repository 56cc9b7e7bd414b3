"""A run plan as text for people (a change board reading it in a terminal or a ticket) and as JSON
for tools (``hchaos plan --json``)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.runplan import RunPlan


def plan_json(plan: RunPlan) -> str:
    return json.dumps(plan.to_json(), indent=2)


def print_plan(plan: RunPlan, console: Console) -> None:
    """The plan in four parts: what and where, the topology, the contacts, the timeline."""
    exp, topo = plan.loaded.experiment, plan.topology
    console.print(Text.assemble(("Plan", "bold"), f" of {exp.name} ({plan.loaded.path}) on the {plan.backend} backend: "
                                f"{_duration(plan.duration)} after bring-up"))
    console.print("Nothing was started or contacted to make it (host names are resolved by the system resolver).")

    console.print(Text("\nTopology", style="bold"),
                  f"{len(topo.sites)} sites, {len(topo.instances)} instances, {len(topo.links)} links")
    for site in topo.sites:
        here = [f"{i.name} ({i.service}, {i.role})" for i in topo.instances if i.site == site.name]
        console.print(Text(f"  {site.name} ({site.kind}): {', '.join(here) or 'no instance'}"), soft_wrap=True)
    links = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("link (Toxiproxy proxy)", "from", "to", "port"):
        links.add_column(column)
    for link in topo.links:
        links.add_row(Text(link.name), Text(link.source), Text(link.target), Text(link.port))
    console.print(links)

    console.print(Text("\nContacts", style="bold"),  # Text: '[fd00::1]' is not markup
                  Text(f"(allow: {', '.join(exp.allow) if exp.allow else 'empty: loopback and own containers only'})"))
    contacts = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("", "address", "what", "why"):
        contacts.add_column(column)
    for checked in plan.contacts:
        c, d = checked.contact, checked.decision
        mark = Text("allowed", style="green") if d.allowed else Text("REFUSED", style="bold red")
        if c.kind == "listen":
            mark = Text("listens", style="cyan")
        contacts.add_row(mark, Text(c.address), Text(c.what + (f" (from {c.source})" if c.source else "")),
                         Text(d.reason))
    console.print(contacts)

    console.print(Text("\nTimeline", style="bold"), "(t: seconds from the start of the steady state)")
    for action in plan.actions:
        style = {"inject": "red", "heal": "green"}.get(action.what, "")
        console.print(Text.assemble((f"  t={action.at:>7.1f}s  ", "dim"), (f"{action.phase:<13}", "dim"),
                                    (action.summary, style)), soft_wrap=True)
        for step in action.steps:
            console.print(Text(f"  {'':>10}  {'':<13}  - {step.describe()}"), soft_wrap=True)
    verdict = ("allowed: every contact is permitted" if plan.allowed
               else "REFUSED: a contact is not allowed (listed above)")
    console.print(Text.assemble(("\nPlan ", "bold"), (verdict, "green" if plan.allowed else "bold red")))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
