"""Default curricula: the ordered modules each focus starts with.

Every group focus (anxiety, depression, ADHD) ships with ten ordered modules,
written for this product. A new group copies its focus's default curriculum;
sessions are matched to modules in order. Module keys are stable slugs of the
form ``<focus>-<NN>-<slug>``: handout files, pacing records and catch-up items
refer to them, so never rename or reuse a key once it has shipped (add a new
module instead).
"""

from dataclasses import dataclass

from .models import FOCUS_LABELS, FOCUSES  # noqa: F401  (re-exported for the curricula's users)


@dataclass(frozen=True)
class CurriculumModule:
    key: str  # stable slug, e.g. "anxiety-01-understanding-anxiety"; handout files refer to it
    title: str  # short title, e.g. "Understanding anxiety"
    purpose: str  # one sentence on what the module is for


def _m(key: str, title: str, purpose: str) -> CurriculumModule:
    return CurriculumModule(key=key, title=title, purpose=purpose)


CURRICULA: dict[str, tuple[CurriculumModule, ...]] = {
    "anxiety": (
        _m(
            "anxiety-01-understanding-anxiety",
            "Understanding anxiety",
            "Learn what anxiety is, why the body produces it, and how it can "
            "become a problem when the alarm goes off too often.",
        ),
        _m(
            "anxiety-02-the-anxiety-cycle",
            "The anxiety cycle",
            "Map how thoughts, body sensations and avoidance feed each other, "
            "so members can spot where to break the loop.",
        ),
        _m(
            "anxiety-03-calming-the-body",
            "Calming the body: breathing and grounding",
            "Practice slow breathing and grounding so members have a reliable "
            "way to settle the body when anxiety rises.",
        ),
        _m(
            "anxiety-04-catching-anxious-thoughts",
            "Catching anxious thoughts",
            "Use a simple thought record to notice the situation, the thought "
            "and the feeling as they happen.",
        ),
        _m(
            "anxiety-05-rethinking-anxious-thoughts",
            "Rethinking anxious thoughts",
            "Weigh the evidence for an anxious thought and build a more "
            "balanced, realistic alternative.",
        ),
        _m(
            "anxiety-06-worry-time",
            "Worry time and problem solving",
            "Contain worry to a set daily slot and sort worries into ones you "
            "can act on and ones you can let go.",
        ),
        _m(
            "anxiety-07-building-an-exposure-ladder",
            "Building an exposure ladder",
            "Rank avoided situations from easiest to hardest and plan the "
            "first small steps toward facing them.",
        ),
        _m(
            "anxiety-08-facing-fears-step-by-step",
            "Facing fears step by step",
            "Carry out planned exposure practice, drop safety behaviors and "
            "learn from what actually happens.",
        ),
        _m(
            "anxiety-09-relationships-and-support",
            "Relationships, support and communicating needs",
            "Explore how anxiety shows up with partners, family and friends, "
            "and practice asking for support clearly and kindly.",
        ),
        _m(
            "anxiety-10-staying-well",
            "Staying well: relapse prevention",
            "Gather the skills that helped most, name early warning signs and "
            "write a personal plan for setbacks.",
        ),
    ),
    "depression": (
        _m(
            "depression-01-understanding-depression",
            "Understanding depression and activity",
            "Learn how low mood and withdrawal feed each other, and why doing "
            "comes before feeling better.",
        ),
        _m(
            "depression-02-activity-monitoring",
            "Activity monitoring",
            "Keep a simple record of what you do and how your mood changes, "
            "to find patterns rather than judge yourself.",
        ),
        _m(
            "depression-03-values",
            "Finding your values",
            "Identify what matters to you across areas of life, so activities "
            "can be chosen for meaning, not just obligation.",
        ),
        _m(
            "depression-04-activity-scheduling",
            "Scheduling meaningful activities",
            "Plan specific, values-based activities into the week and treat "
            "them as appointments with yourself.",
        ),
        _m(
            "depression-05-small-steps",
            "Small steps: grading tasks",
            "Break activities that feel too big into small, doable steps and "
            "notice every step completed.",
        ),
        _m(
            "depression-06-getting-past-avoidance",
            "Getting past avoidance",
            "Recognize avoidance patterns that keep mood low and choose an "
            "alternative, approaching action instead.",
        ),
        _m(
            "depression-07-noticing-unhelpful-thoughts",
            "Noticing unhelpful thoughts",
            "Spot common thinking traps in low mood and practice a kinder, "
            "more balanced way of seeing things.",
        ),
        _m(
            "depression-08-social-support-and-relationships",
            "Social support and relationships",
            "Reconnect with people who matter and plan small, manageable "
            "steps to reduce isolation.",
        ),
        _m(
            "depression-09-communicating-needs",
            "Communicating needs",
            'Practice telling others what you feel and need using calm, clear "I" statements.',
        ),
        _m(
            "depression-10-staying-well",
            "Staying well: relapse prevention",
            "Review what helped, recognize early signs of slipping, and write "
            "a plan to keep going after the group ends.",
        ),
    ),
    "adhd": (
        _m(
            "adhd-01-understanding-adult-adhd",
            "Understanding adult ADHD",
            "Learn how ADHD affects attention, organization and time in "
            "adult life, and set personal goals for the group.",
        ),
        _m(
            "adhd-02-planner-system",
            "Setting up a planner system",
            "Choose one calendar and one task list and build the daily habit of checking them.",
        ),
        _m(
            "adhd-03-prioritising",
            "Prioritizing tasks",
            "Sort tasks by importance and urgency so the day's effort goes to what matters most.",
        ),
        _m(
            "adhd-04-breaking-tasks-down",
            "Breaking tasks down",
            "Turn large or vague tasks into small, concrete next steps that are easy to start.",
        ),
        _m(
            "adhd-05-managing-distractibility",
            "Managing distractibility",
            "Shape your surroundings and use a distraction log to protect "
            "focus during work periods.",
        ),
        _m(
            "adhd-06-beating-procrastination",
            "Beating procrastination",
            "Understand what drives putting things off and practice getting "
            "started with short, timed bursts.",
        ),
        _m(
            "adhd-07-time-estimation",
            "Time estimation and time awareness",
            "Compare guessed and actual task times and build buffers so plans match reality.",
        ),
        _m(
            "adhd-08-emotional-regulation",
            "Emotional regulation",
            "Notice strong feelings early and use a pause-and-choose routine "
            "to respond instead of react.",
        ),
        _m(
            "adhd-09-relationships-and-communication",
            "ADHD in relationships and communication",
            "Look at how ADHD shows up with partners, family and colleagues, "
            "and practice listening and asking for support.",
        ),
        _m(
            "adhd-10-maintaining-gains",
            "Maintaining gains",
            "Keep the systems that worked, plan for busy or stressful times, "
            "and decide how to get back on track after a lapse.",
        ),
    ),
}


_BY_KEY: dict[str, CurriculumModule] = {
    module.key: module for modules in CURRICULA.values() for module in modules
}


def default_curriculum(focus: str) -> tuple[CurriculumModule, ...]:
    """Return the ordered default modules for ``focus``.

    Raises ``ValueError`` for an unknown focus.
    """
    try:
        return CURRICULA[focus]
    except KeyError:
        raise ValueError(f"unknown group focus: {focus!r}") from None


def module_by_key(key: str) -> CurriculumModule | None:
    """Return the module with this key, or ``None`` if no module has it."""
    return _BY_KEY.get(key)
