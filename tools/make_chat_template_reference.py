"""Reference renderings of the real chat templates in tests/data/chat_templates/ (jinja2, PyPI).

Renders every template for a set of conversations the way transformers' apply_chat_template does
(jinja2's ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols
extension, transformers' tojson filter, raise_exception, strftime_now, dict and namespace; the
context holds messages, tools=None, documents=None, add_generation_prompt, bos_token, eos_token
and any extra variables) and writes tests/data/chat_templates/reference.json, which
tests/host/test_chat_template.cpp compares with switchyard::generate::chat_template byte for byte.
strftime_now is pinned to 2024-07-26 12:00:00 here and in the test, so the file is reproducible.

Where transformers is installed (tools/requirements.txt), every rendering is also checked against
transformers' own render_jinja_template, so the environment above cannot drift from it.

    .venv/bin/python tools/make_chat_template_reference.py
"""

import copy
import datetime
import json
import pathlib

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "chat_templates"
PINNED_NOW = datetime.datetime(2024, 7, 26, 12, 0, 0)

# template file -> (bos_token, eos_token) as the model's tokenizer_config.json gives them
TEMPLATES = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": ("", "<|im_end|>"),
    "Qwen-Qwen3-0.6B.jinja": ("", "<|im_end|>"),
    "meta-llama-Llama-3.1-8B-Instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "meta-llama-Llama-3.2-3B-Instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistralai-Mistral-7B-Instruct-v0.2-pre-v1.jinja": ("<s>", "</s>"),
    "mistralai-Mistral-7B-Instruct-v0.2-v1.jinja": ("<s>", "</s>"),
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": ("<s>", "</s>"),
    "deepseek-ai-DeepSeek-V3-0324.jinja": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-ai-DeepSeek-V3.1.jinja": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "allenai-OLMoE-1B-7B-0924-Instruct.jinja": ("<|endoftext|>", "<|endoftext|>"),
    "openai-gpt-oss-120b.jinja": ("<|startoftext|>", "<|return|>"),
}


def msg(role, content):
    return {"role": role, "content": content}


SYSTEM = msg("system", "You are a helpful assistant.")

# Conversations of plain {role, content} messages: the C++ test renders these through the
# span<chat_message> overload, each with and without the generation prompt.
CONVERSATIONS = {
    "user": [msg("user", "Hello")],
    "system_user": [SYSTEM, msg("user", "What is 2+2?")],
    "multi_turn": [SYSTEM, msg("user", "Hi!"), msg("assistant", "Hello! How can I help?"), msg("user", "Tell me a joke.")],
    "multi_turn_no_system": [msg("user", "One"), msg("assistant", "Two"), msg("user", "Three"), msg("assistant", "Four")],
    "non_ascii": [
        msg("system", "Réponds en français, s'il te plaît."),
        msg("user", "Grüße aus Köln! 世界 Привет 👋🏽 ¿qué?"),
        msg("assistant", "Bonjour — ça va ✓ 😀"),
        msg("user", "日本語で答えて"),
    ],
    "quotes_newlines": [
        msg("user", "He said \"hi\" and 'bye'\nline two\n\ttabbed \\ backslash {{ not a tag }} {% raw %} </s>"),
        msg("assistant", "  padded answer with trailing spaces  \n\n"),
        msg("user", "\nleading newline\r\nand CRLF"),
    ],
    "thinking": [
        msg("user", "What is 2+2?"),
        msg("assistant", "<think>\nLet me think.\n</think>\n\nThe answer is 4."),
        msg("user", "Thanks"),
    ],
    "empty_content": [msg("user", "")],
    "system_only": [SYSTEM],
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the \"current\" weather in a city — métrique",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"},
                "days": {"type": "integer", "description": "Days ahead", "default": 0},
                "hourly": {"type": "boolean"},
                "ratio": {"type": "number", "default": 0.5},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {"name": "search", "description": "Search the web", "parameters": {"type": "object", "properties": {}}},
}

ARGS = {"city": "Paris", "unit": "celsius", "days": 2, "ratio": 1.5, "hourly": True, "tags": ["a", "ü"], "none": None}


def tool_call_conversation(arguments):
    return [
        SYSTEM,
        msg("user", "What's the weather in Paris?"),
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temperature\": 22}"},
        msg("assistant", "It is 22 °C in Paris."),
        msg("user", "And tomorrow?"),
    ]


# (transformers copies a message's reasoning between `thinking` and `reasoning_content`; the
# messages below carry both, so that copy changes nothing.)
# Conversations with more than role and content, or extra variables: the C++ test passes these as
# one JSON context (the render(json) overload). Each is rendered by every template; where jinja2
# raises, the reference records the error and the test expects one too.
EXTRA_CASES = {
    "tools": ({"tools": [WEATHER_TOOL, SEARCH_TOOL]}, [SYSTEM, msg("user", "What's the weather in Paris?")]),
    "tools_no_system": ({"tools": [WEATHER_TOOL]}, [msg("user", "Weather?")]),
    "tool_calls_dict_args": ({"tools": [WEATHER_TOOL]}, tool_call_conversation(ARGS)),
    "tool_calls_string_args": ({}, tool_call_conversation(json.dumps(ARGS))),
    "llama_builtin_tools": (
        {"builtin_tools": ["code_interpreter", "brave_search"], "tools_in_user_message": False, "tools": [WEATHER_TOOL]},
        [SYSTEM, msg("user", "Search for cats")],
    ),
    "date_string": ({"date_string": "01 Jan 2030"}, [msg("user", "What day is it?")]),
    "qwen_no_thinking": ({"enable_thinking": False}, [msg("user", "Quick answer please")]),
    "reasoning_content": (
        {},
        [
            msg("user", "Q1"),
            {"role": "assistant", "content": "A1", "reasoning_content": "thought one", "thinking": "thought one"},
            msg("user", "Q2"),
            {"role": "assistant", "content": "A2", "reasoning_content": "thought two", "thinking": "thought two"},
        ],
    ),
    "gpt_oss_options": (
        {"reasoning_effort": "high", "model_identity": "You are a tester.", "builtin_tools": ["browser", "python"]},
        [msg("developer", "Be brief."), msg("user", "Hi"), {"role": "assistant", "content": "Hello", "thinking": "Greet back", "reasoning_content": "Greet back"}],
    ),
    "deepseek_thinking": ({"thinking": True}, [msg("user", "Think first"), msg("assistant", "<think>hm</think>Done"), msg("user", "Again")]),
    "nested_values": (
        {"custom": {"list": [1, 2.5, -3, None, True, "x"], "nested": {"k": "v"}}},
        [msg("user", "values")],
    ),
}


# Small templates, one construct each, rendered over SNIPPET_CONTEXT: the semantics of the
# filters, tests, methods and operators the renderer implements, checked against jinja2 itself.
SNIPPET_CONTEXT = {
    "messages": [SYSTEM, msg("user", "Héllo, wörld! 👋"), msg("assistant", "  Hi  ")],
    "d": {"b": 2, "a": 1, "C": 3},
    "xs": [3, 1, 2, 1],
    "words": ["banana", "Apple", "cherry", "apple"],
    "people": [{"name": "Ann", "age": 31, "tags": ["x"]}, {"name": "bob", "age": 25}, {"name": "Cy", "age": 31}],
    "s": "  Hello, World  ",
    "u": "ÄÖÜ straße 東京 🙂",
    "n": None,
    "f": 2.5,
    "big": 12345678901234,
    "nested": {"list": [1, {"k": [True, None, 1.25]}], "e": {}, "el": []},
}
SNIPPETS = [
    "{{ xs|length }} {{ d|length }} {{ s|length }} {{ u|length }} {{ undefined_name|length }}",
    "{{ xs|first }} {{ xs|last }} {{ 'abc'|first }} {{ d|first }} {{ d|last }}",
    "{{ xs|sort }} {{ xs|sort(reverse=true) }} {{ words|sort }} {{ words|sort(case_sensitive=true) }}",
    "{{ people|sort(attribute='age')|map(attribute='name')|join(',') }}",
    "{{ words|unique|list }} {{ xs|unique|list }} {{ xs|min }} {{ xs|max }} {{ words|max }} {{ xs|sum }}",
    "{{ people|sum(attribute='age') }} {{ people|map(attribute='tags')|list }} {{ people|map(attribute='tags', default=[])|list }}",
    "{{ xs|map('string')|join('-') }} {{ words|map('upper')|list }} {{ ['1', '2x', '3.7']|map('int')|list }}",
    "{{ xs|select('odd')|list }} {{ xs|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }}",
    "{{ people|selectattr('age', 'equalto', 31)|map(attribute='name')|list }} {{ people|rejectattr('tags')|map(attribute='name')|list }}",
    "{{ people|selectattr('age', '>', 26)|list|length }} {{ people|selectattr('tags', 'defined')|list|length }}",
    "{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(by='value', reverse=true) }} {{ d|dictsort(true) }}",
    "{{ s|trim }}|{{ s|trim(' H') }}|{{ s|upper }}|{{ s|lower }}|{{ s|capitalize }}|{{ 'a-b c(d'|title }}",
    "{{ s|replace('l', 'L') }} {{ s|replace('l', 'L', 2) }} {{ 'abc'|replace('', '-') }}",
    "{{ 'x'|default('y') }} {{ undefined_name|default('y') }} {{ ''|default('y') }} {{ ''|default('y', true) }} {{ n|d('z') }}",
    "{{ '42'|int }} {{ ' 7 '|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3.99|int }} {{ true|int }} {{ '1_000'|int }}",
    "{{ '2.5'|float }} {{ 3|float }} {{ 'x'|float }} {{ 2.675|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.1|round(method='ceil') }} {{ 7|round }}",
    "{{ -3|abs }} {{ -2.5|abs }} {{ 'x'|string }} {{ 5|string }} {{ n|string }} {{ xs|string }}",
    "{{ '<a href=\"x\">&</a>'|e }} {{ '<b>'|escape }} {{ '<i>'|safe }}",
    "{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb\n\nc'|indent(2, first=true) }}|{{ 'a\nb\n\nc'|indent('> ', blank=true) }}",
    "{{ 'one two  three'|wordcount }} {{ 'ab'|center(7) }}| {{ xs|batch(3)|list }} {{ xs|batch(3, 0)|list }}",
    "{{ 'abc'|reverse }} {{ xs|reverse|list }} {{ 'abc'|list }} {{ d|list }}",
    "{{ xs|tojson }} {{ d|tojson(indent=2) }} {{ u|tojson }} {{ u|tojson(ensure_ascii=true) }} {{ nested|tojson }}",
    "{{ nested|tojson(indent=1) }} {{ d|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) }} {{ f|tojson }} {{ n|tojson }}",
    "{{ 'a\"b\\\\c\\n\\t\\u0001'|tojson }} {{ [1.0, 1e20, 1e-7, -0.0, 123456789.125]|tojson }}",
    "{{ xs is iterable }} {{ d is mapping }} {{ xs is mapping }} {{ s is string }} {{ f is number }} {{ 3 is integer }} {{ f is float }}",
    "{{ n is none }} {{ true is boolean }} {{ false is false }} {{ 1 is true }} {{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }}",
    "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'x' is in 'xyz' }} {{ 2 is in xs }} {{ 1 is eq 1.0 }} {{ 1 is ne 2 }} {{ 3 is gt 2 }} {{ 3 is ge 3 }}",
    "{{ xs is sequence }} {{ 3 is sequence }} {{ undefined_name is undefined }} {{ d.a is defined }} {{ d.zz is defined }} {{ none is sameas none }}",
    "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\n\nhi\n'.lstrip('\n') }}|{{ u.strip('🙂 ') }}",
    "{{ 'a b  c'.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  a  b  '.rsplit(None, 1) }} {{ 'x</think>y</think>z'.split('</think>')[-1] }}",
    "{{ s.startswith('  He') }} {{ s.endswith(('x', '  ')) }} {{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello wORLD'.title() }} {{ 'hELLO'.capitalize() }}",
    "{{ 'hello'.replace('l', 'L') }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'héllo'.find('l') }} {{ 'hello'.count('l') }} {{ '-'.join(['a', 'b']) }}",
    "{{ 'a\nb\r\nc'.splitlines() }} {{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ '  '.isspace() }} {{ 'ab'.isupper() }} {{ '7'.zfill(3) }}",
    "{{ d.items() }} {{ d.keys() }} {{ d.values() }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 0) }} {{ d['b'] }} {{ d.b }}",
    "{{ xs[0] }} {{ xs[-1] }} {{ xs[1:3] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[5:] }} {{ s[2:7] }} {{ u[-3:] }} {{ xs.index(2) }} {{ xs.count(1) }}",
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** 0.5 }} {{ 2 ** -1 }} {{ 10 / 4 }} {{ 1 + 2.0 }}",
    "{{ 'ab' ~ 1 ~ none ~ undefined_name ~ [1] }} {{ 'ab' + 'cd' }} {{ [1] + [2] }} {{ (1,) + (2,) }} {{ 'x' * 3 }} {{ 3 * 'y' }} {{ [0] * 2 }}",
    "{{ 1 < 2 }} {{ 'a' < 'B' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 == true }} {{ 'a' != 'b' }} {{ 'a' in 'cat' }} {{ 'z' not in d }} {{ 2 in xs }}",
    "{{ not true }} {{ true and 'x' }} {{ false or 'y' }} {{ '' or [] or 'z' }} {{ 0 and 1 }} {{ 'a' if false }}|{{ 'a' if true else 'b' }} {{ -f }} {{ +3 }}",
    "{{ 0.1 }} {{ 1/3 }} {{ 1e100 }} {{ 1.5e-10 }} {{ 100.0 }} {{ 1e15 }} {{ 123456789012345678.0 }} {{ -0.0 }} {{ big }} {{ big * 1000 }}",
    "{{ 'it\\'s' }} {{ \"say \\\"hi\\\"\" }} {{ ['it\\'s', \"q\\\"\", 'b\\\\s', 'n\\nl', 't\\tab', 'é', '\\x01'] }} {{ {'k': (1, 'v')} }}",
    "{{ 'a' 'b' }} {{ '\\u00e9\\x41\\101\\q' }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 1_0.5 }}",
    "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }} {{ range(3)|length }}",
    "{% set ns = namespace(a=1, b='x') %}{% set ns.a = ns.a + 1 %}{{ ns.a }}{{ ns.b }}{{ ns.c is defined }} {{ dict(a=1, b=[2]) }} {{ dict([('k', 'v')]) }}",
    "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.cycle('a', 'b') }}|{% endfor %}",
    "{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {% endfor %}",
    "{% for x in [] %}body{% else %}empty{% endfor %} {% for x in xs if x > 1 %}{{ x }}{% else %}none{% endfor %}",
    "{% for a, b in [(1, 2), [3, 4], 'xy'] %}{{ a }}{{ b }};{% endfor %} {% for k in d %}{{ k }}{% endfor %} {% for c in 'hé' %}[{{ c }}]{% endfor %}",
    "{% for i in xs %}{% for j in xs %}{% if j == 2 %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% if i == 2 %}{% continue %}{% endif %}|{% endfor %}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = 1, %}{{ t }} {% set x %}block {{ a }}{% endset %}[{{ x }}] {% set y | upper %}up{% endset %}{{ y }}",
    "{% set x = 'outer' %}{% for i in [1] %}{% set x = 'inner' %}{{ x }}{% endfor %}{{ x }} {% if true %}{% set z = 'if' %}{% endif %}{{ z }}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }} {% filter upper %}shout {{ 'x' }}{% endfilter %}",
    "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(punct='.', name='Cy') }} {{ greet() }}",
    "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(10) }}",
    "{% macro m() %}{{ messages|length }}{{ xs[0] }}{% endmacro %}{{ m() }} {{ m is callable }} {{ xs is callable }}",
    "{%- for m in messages -%}\n  <{{ m.role }}>\n{%- endfor %}\n  {% if true %}\n    kept\n  {% endif %}\n{# comment #}\nend",
    "a {%- if true %} b {% endif -%} c\n  {%+ if true %}plus{% endif %}\n\t{% if true %}tab{% endif %}  \n{%- raw %} {{ raw }} {% endraw %}",
    "{{ messages[0].content }}{{ messages[-1]['role'] }}{{ messages[1].content[:5] }}{{ messages[2].content|trim }}{{ messages[5] is defined }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|map(attribute='role')|join(',') }} {{ messages[::-1]|map(attribute='role')|first }}",
    "{{ messages[0] }} {{ messages|tojson }}",
    "{{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %j %p') }} {{ strftime_now('%d %b %Y') }}",
]


def strftime_now(fmt):
    return PINNED_NOW.strftime(fmt)


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["namespace"] = jinja2.utils.Namespace
    env.globals["dict"] = dict
    return env


def render(env, source, context):
    try:
        return {"output": env.from_string(source).render(**copy.deepcopy(context))}
    except jinja2.exceptions.TemplateError as e:
        # raise_exception raises TemplateError itself; jinja2's own errors are subclasses
        if type(e) is jinja2.exceptions.TemplateError:
            return {"raise_exception": str(e)}
        return {"error": f"{type(e).__name__}: {e}"}
    except Exception as e:  # TypeError, OverflowError, ... : the template fails to render
        return {"error": f"{type(e).__name__}: {e}"}


def transformers_render(source, context):
    """transformers' own rendering, where transformers is installed (None where it is not)."""
    try:
        from transformers.utils import chat_template_utils as ctu
    except ImportError:
        return None
    ctx = copy.deepcopy(context)
    messages = ctx.pop("messages")
    tools = ctx.pop("tools")
    ctx.pop("documents")
    agp = ctx.pop("add_generation_prompt")
    compiled = ctu._compile_jinja_template(source)
    compiled.environment.globals["strftime_now"] = strftime_now
    try:
        out = ctu.render_jinja_template(
            conversations=[messages], tools=tools, chat_template=source, add_generation_prompt=agp, **ctx
        )
    except Exception:
        return {"failed": True}
    return {"output": out[0][0] if isinstance(out, tuple) else out[0]}


def main():
    env = make_environment()
    cases = []
    checked = 0
    for name, (bos, eos) in TEMPLATES.items():
        source = (DATA / name).read_text(encoding="utf-8")
        all_cases = [(conv, {}, messages, True) for conv, messages in CONVERSATIONS.items()]
        all_cases += [(conv, extra, messages, False) for conv, (extra, messages) in EXTRA_CASES.items()]
        for conv, extra, messages, plain in all_cases:
            for agp in (False, True):
                context = {
                    "messages": messages,
                    "tools": None,
                    "documents": None,
                    "add_generation_prompt": agp,
                    "bos_token": bos,
                    "eos_token": eos,
                }
                context.update(extra)
                result = render(env, source, context)
                ref = transformers_render(source, context)
                if ref is not None:
                    if "output" in result:
                        assert ref.get("output") == result["output"], (name, conv, agp, ref, result)
                    else:
                        assert "output" not in ref, (name, conv, agp, ref, result)
                    checked += 1
                case = {"template": name, "conversation": conv, "add_generation_prompt": agp, "plain": plain}
                if not plain:
                    case["context"] = context
                else:
                    case["messages"] = messages
                case.update(result)
                cases.append(case)
    snippets = []
    for source in SNIPPETS:
        snippets.append({"source": source, **render(env, source, SNIPPET_CONTEXT)})
    out = {
        "jinja2": jinja2.__version__,
        "now": PINNED_NOW.isoformat(),
        "templates": [{"file": n, "bos_token": b, "eos_token": e} for n, (b, e) in TEMPLATES.items()],
        "cases": cases,
        "snippet_context": SNIPPET_CONTEXT,
        "snippets": snippets,
    }
    path = DATA / "reference.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    rendered = sum("output" in c for c in cases)
    raised = sum("raise_exception" in c for c in cases)
    print(f"{path}: {len(cases)} cases ({rendered} rendered, {raised} raise_exception, "
          f"{len(cases) - rendered - raised} errors); {checked} checked against transformers; {len(snippets)} snippets")
    for sn in snippets:
        if "output" not in sn:
            print("  snippet fails in jinja2:", sn["source"][:60], sn)


if __name__ == "__main__":
    main()
