"""The handlers, one module per family, and ``register(app)``: the tables that wire them in.

Update flow (handler groups run in this order for every update):
  -3  the outbox learns which update is being handled, so its answer is sent once (outbox.py)
  -2  group policy: in groups, drop what is not addressed to the bot (gate.py)
  -1  gate: per-user rate limit, then access (unknown users are refused politely; gate.py)
   0  the handlers: commands, documents, questions, buttons, and a fallback for everything else

Modules: ``gate`` (who gets in), ``access_requests`` (asking for access, admins deciding),
``officials`` (questions, topics, the buttons under answers), ``team`` (ask the team: questions
to the coordinators and their answers), ``coordinators`` (uploading and publishing knowledge
files, the template, /edit), ``admins`` (the admin commands). A role above "official" is
checked by ``roles.requires`` on the handler itself. Handlers only orchestrate: parse, check,
ask the engine, and send a view from ``bot/views.py`` through ``bot/sending.py``.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, TypeHandler, filters

from .. import callback_data as cb
from .. import outbox
from . import access_requests, admins, coordinators, gate, officials, team

COMMANDS = {
    "start": officials.start,
    "help": officials.help_command,
    "language": officials.language_command,
    "topics": officials.topics_command,
    "brief": officials.brief_command,
    "new": officials.new_question,
    "reindex": admins.reindex,
    "status": admins.status,
    "gaps": admins.gaps,
    "stats": admins.stats,
    "remove": admins.remove,
    "template": coordinators.template_command,
    "edit": coordinators.edit_command,
}
BUTTONS = {
    cb.MORE: officials.on_more,
    cb.FULL: officials.on_full,
    cb.SOURCES: officials.on_sources,
    cb.BRIEF_ANSWER: officials.on_brief_answer,
    cb.BRIEF_PRACTICE: officials.on_brief_practice,
    cb.FEEDBACK: officials.on_feedback,
    cb.TOPICS: officials.on_topics,
    cb.TOPIC: officials.on_topic,
    cb.LANGUAGE: officials.on_language,
    cb.REQUEST_ACCESS: access_requests.on_request_access,
    cb.APPROVE: access_requests.on_decision,
    cb.DENY: access_requests.on_decision,
    cb.PUBLISH: coordinators.on_publish,
    cb.CANCEL: coordinators.on_cancel,
    cb.NARROW: officials.on_narrow,
    cb.NARROW_TOPIC: officials.on_narrow_topic,
    cb.NEW_QUESTION: officials.on_new_question,
    cb.ASK_TEAM: team.on_ask_team,
    cb.DRAFT: team.on_draft,
}


def register(app: Application) -> None:
    app.add_handler(TypeHandler(Update, outbox.begin_update), group=-3)
    app.add_handler(TypeHandler(Update, gate.group_policy), group=-2)
    app.add_handler(TypeHandler(Update, gate.gate), group=-1)
    for name, callback in COMMANDS.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(MessageHandler(filters.Document.ALL, coordinators.on_document))
    # A reply to a team question is a coordinator's answer; team.on_reply hands any other reply on as a question.
    app.add_handler(MessageHandler(filters.TEXT & filters.REPLY & ~filters.COMMAND, team.on_reply))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, officials.question))
    app.add_handler(MessageHandler(filters.COMMAND, officials.unknown_command))
    app.add_handler(MessageHandler(filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE, officials.voice))
    app.add_handler(MessageHandler(filters.ALL, officials.unsupported))
    for action, callback in BUTTONS.items():
        app.add_handler(CallbackQueryHandler(callback, pattern=cb.pattern(action)))
    app.add_handler(CallbackQueryHandler(officials.stale_button))  # forged or outdated data
