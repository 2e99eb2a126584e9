"""The Azure Functions app: registers each blueprint, and nothing else.

Importing this module never touches the network, a database or a required setting, so the
functions always index; configuration problems are reported by GET /api/health.
"""

import azure.functions as func

from services.video_rag.api.functions import (
    chat,
    health,
    legacy,
    maintenance,
    openapi,
    sessions,
    ui,
    videos,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

app.register_blueprint(sessions.bp)
app.register_blueprint(health.bp)
app.register_blueprint(videos.bp)
app.register_blueprint(chat.bp)
app.register_blueprint(legacy.bp)
app.register_blueprint(ui.bp)
app.register_blueprint(openapi.bp)
app.register_blueprint(maintenance.bp)
