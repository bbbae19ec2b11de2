from django.urls import path

from audit import api

api_urlpatterns = [path("audit/", api.EntryList.as_view(), name="audit-entries")]
