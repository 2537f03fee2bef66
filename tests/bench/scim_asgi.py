"""scim2-server's ASGI application, for uvicorn: the benchmark's downstream
app (a single process holds the data in memory). Run:

    .venv/bin/uvicorn --app-dir tests/bench scim_asgi:app --port P --no-access-log
"""

from scim2_models import ScimProvider

from scim2_server.applications.asgi import ASGIApplication
from scim2_server.memory import AsyncInMemoryStorage
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.utils import load_default_resource_types
from scim2_server.utils import load_default_schemas
from scim2_server.utils import load_default_service_provider_config

provider = ScimProvider.from_discovery(
    load_default_schemas().values(),
    load_default_resource_types().values(),
    config=load_default_service_provider_config(),
)
app = ASGIApplication(AsyncInMemoryStorage(InMemoryStorage()), provider, ScimService(provider))
